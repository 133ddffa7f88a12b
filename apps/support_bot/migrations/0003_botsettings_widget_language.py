from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("support_bot", "0002_alter_feedback_options"),
    ]

    operations = [
        migrations.AddField(
            model_name="botsettings",
            name="widget_language",
            field=models.CharField(
                blank=True,
                choices=[("", "The visitor's browser"), ("en", "English"),
                         ("zh-hans", "简体中文")],
                default="",
                max_length=8,
            ),
        ),
    ]
