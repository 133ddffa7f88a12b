"""A/B experiments, and the attribution of events to served lists (``recommendation_id``)."""

import django.core.validators
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from tenancy.rls import EnableRowLevelSecurity


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0003_job_dataset_check'),
        ('recommendation', '0002_recommendation_job_key'),
        ('tenancy', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Experiment',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=200)),
                ('traffic_b', models.PositiveSmallIntegerField(default=50, help_text='Percent of end users in arm B', validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(99)])),
                ('metric', models.CharField(choices=[('ctr', 'Click-through rate'), ('conversion', 'Conversion rate')], default='ctr', max_length=16)),
                ('status', models.CharField(choices=[('running', 'Running'), ('stopped', 'Stopped')], default='running', max_length=16)),
                ('started_at', models.DateTimeField()),
                ('stopped_at', models.DateTimeField(blank=True, null=True)),
                ('winner', models.CharField(blank=True, choices=[('a', 'A'), ('b', 'B')], max_length=1)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
            ],
            options={
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.AddField(
            model_name='impression',
            name='arm',
            field=models.CharField(blank=True, default='', max_length=1),
        ),
        migrations.AddField(
            model_name='interaction',
            name='recommendation_id',
            field=models.CharField(blank=True, default='', max_length=64),
        ),
        migrations.AddIndex(
            model_name='interaction',
            index=models.Index(condition=models.Q(('recommendation_id', ''), _negated=True), fields=['tenant', 'recommendation_id'], name='recs_interaction_list'),
        ),
        migrations.AddField(
            model_name='experiment',
            name='arm_a_version',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.RESTRICT, related_name='+', to='jobs.modelversion'),
        ),
        migrations.AddField(
            model_name='experiment',
            name='arm_b_version',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.RESTRICT, related_name='+', to='jobs.modelversion'),
        ),
        migrations.AddField(
            model_name='experiment',
            name='created_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='experiment',
            name='tenant',
            field=models.ForeignKey(editable=False, on_delete=django.db.models.deletion.CASCADE, to='tenancy.tenant'),
        ),
        migrations.AddField(
            model_name='impression',
            name='experiment',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='recommendation.experiment'),
        ),
        migrations.AddIndex(
            model_name='impression',
            index=models.Index(condition=models.Q(('experiment__isnull', False)), fields=['tenant', 'experiment', 'arm'], name='recs_impression_experiment'),
        ),
        migrations.AddIndex(
            model_name='experiment',
            index=models.Index(fields=['tenant', 'status'], name='recs_experiment_status'),
        ),
        migrations.AddConstraint(
            model_name='experiment',
            constraint=models.UniqueConstraint(condition=models.Q(('status', 'running')), fields=('tenant',), name='recs_experiment_one_running'),
        ),
        migrations.AddConstraint(
            model_name='experiment',
            constraint=models.CheckConstraint(condition=models.Q(('traffic_b__gte', 1), ('traffic_b__lte', 99)), name='recs_experiment_traffic_b_range'),
        ),
        EnableRowLevelSecurity("experiment"),
    ]
