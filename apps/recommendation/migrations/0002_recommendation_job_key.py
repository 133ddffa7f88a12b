"""The results' (tenant, job) key, checked per statement (see ``jobs.models.JobResult``)."""

import django.db.models.deletion
from django.db import migrations, models

import jobs.constraints


class Migration(migrations.Migration):

    dependencies = [
        ("recommendation", "0001_initial"),
        ("jobs", "0002_job_result_keys"),
        ("tenancy", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="recommendation",
            name="job",
            field=models.ForeignKey(db_constraint=False, db_index=False,
                                    on_delete=django.db.models.deletion.CASCADE,
                                    related_name="+", to="jobs.job"),
        ),
        migrations.AlterField(
            model_name="recommendation",
            name="tenant",
            field=models.ForeignKey(db_constraint=False, db_index=False, editable=False,
                                    on_delete=django.db.models.deletion.CASCADE,
                                    to="tenancy.tenant"),
        ),
        jobs.constraints.JobResultKey("recommendation"),
    ]
