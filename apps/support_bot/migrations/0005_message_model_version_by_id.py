"""A bot reply names the version that answered as jobs, classify and the API do: by id (a key
to ``jobs.ModelVersion``), with its number beside it, instead of a label ("v3", "default").
Existing replies keep their version where its label names one of the tenant's versions."""

import django.db.models.deletion
from django.db import migrations, models

from tenancy.context import unscoped


def labels_to_versions(apps, schema_editor):
    message_model = apps.get_model("support_bot", "Message")
    version_model = apps.get_model("jobs", "ModelVersion")
    with unscoped():  # every tenant's messages
        labelled = (message_model.objects.filter(model_version_label__regex=r"^v[0-9]+$")
                    .values_list("tenant_id", "model_version_label").distinct())
        for tenant_id, label in list(labelled):
            number = int(label[1:])
            version_id = (version_model.objects.filter(tenant_id=tenant_id, app="support_bot",
                                                       version=number)
                          .values_list("pk", flat=True).first())
            message_model.objects.filter(tenant_id=tenant_id, model_version_label=label).update(
                model_version_number=number, model_version_id=version_id)


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0003_job_dataset_check"),
        ("support_bot", "0004_merge_widget_language_and_out_of_scope"),
    ]

    operations = [
        migrations.RenameField("message", "model_version", "model_version_label"),
        migrations.AddField(
            model_name="message", name="model_version",
            field=models.ForeignKey(blank=True, help_text="The version that answered; null: the platform default", null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to="jobs.modelversion"),
        ),
        migrations.AddField(
            model_name="message", name="model_version_number",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.RunPython(labels_to_versions, migrations.RunPython.noop),
        migrations.RemoveField("message", "model_version_label"),
    ]
