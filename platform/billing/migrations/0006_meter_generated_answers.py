"""The ``generated_answers`` meter (the support bot's generative composer): its choice on the
meter fields, and its terms in the default plans that already exist."""

from django.db import migrations, models

from billing.plans import install_missing_terms


def add_terms(apps, schema_editor):
    install_missing_terms(apps.get_model("billing", "Plan"),
                          apps.get_model("billing", "PlanMeter"))


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0005_subscription_for_every_tenant'),
    ]

    operations = [
        migrations.AlterField(
            model_name='invoiceline',
            name='meter',
            field=models.CharField(blank=True, choices=[('training_accelerator_seconds', 'Accelerator seconds (training)'), ('inference_accelerator_seconds', 'Accelerator seconds (inference)'), ('items_inferred', 'Items inferred'), ('chat_messages', 'Chat messages'), ('generated_answers', 'Generated answers'), ('recommendation_requests', 'Recommendation requests'), ('api_calls', 'API calls'), ('storage_bytes', 'Storage bytes')], max_length=40),
        ),
        migrations.AlterField(
            model_name='planmeter',
            name='meter',
            field=models.CharField(choices=[('training_accelerator_seconds', 'Accelerator seconds (training)'), ('inference_accelerator_seconds', 'Accelerator seconds (inference)'), ('items_inferred', 'Items inferred'), ('chat_messages', 'Chat messages'), ('generated_answers', 'Generated answers'), ('recommendation_requests', 'Recommendation requests'), ('api_calls', 'API calls'), ('storage_bytes', 'Storage bytes')], max_length=40),
        ),
        migrations.AlterField(
            model_name='usagerecord',
            name='meter',
            field=models.CharField(choices=[('training_accelerator_seconds', 'Accelerator seconds (training)'), ('inference_accelerator_seconds', 'Accelerator seconds (inference)'), ('items_inferred', 'Items inferred'), ('chat_messages', 'Chat messages'), ('generated_answers', 'Generated answers'), ('recommendation_requests', 'Recommendation requests'), ('api_calls', 'API calls'), ('storage_bytes', 'Storage bytes')], max_length=40),
        ),
        migrations.AlterField(
            model_name='usagewarning',
            name='meter',
            field=models.CharField(choices=[('training_accelerator_seconds', 'Accelerator seconds (training)'), ('inference_accelerator_seconds', 'Accelerator seconds (inference)'), ('items_inferred', 'Items inferred'), ('chat_messages', 'Chat messages'), ('generated_answers', 'Generated answers'), ('recommendation_requests', 'Recommendation requests'), ('api_calls', 'API calls'), ('storage_bytes', 'Storage bytes')], max_length=40),
        ),
        migrations.RunPython(add_terms, migrations.RunPython.noop),
    ]
