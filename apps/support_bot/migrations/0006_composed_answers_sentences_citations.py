"""Composed answers: articles may have a URL; each article's sentences are stored with their
embeddings (written by the ``embed_articles`` job; an article without sentences counts as
stale, so the next job embeds existing articles' sentences, and until then a reply quotes the
whole article as before); a reply stores the articles it cites and which
composer wrote it; per-tenant settings of the generative composer."""

import django.db.models.deletion
import pgvector.django.vector
from django.db import migrations, models

from tenancy.rls import EnableRowLevelSecurity


class Migration(migrations.Migration):

    dependencies = [
        ('support_bot', '0005_message_model_version_by_id'),
        ('tenancy', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='article',
            name='url',
            field=models.URLField(blank=True, default='', help_text='Where customers can read the article; cited with it', max_length=500),
        ),
        migrations.AddField(
            model_name='botsettings',
            name='generative_api_key',
            field=models.TextField(blank=True, default='', editable=False),
        ),
        migrations.AddField(
            model_name='botsettings',
            name='generative_enabled',
            field=models.BooleanField(default=False, help_text='Compose replies with a language model, checked against the articles (else the extractive answer)'),
        ),
        migrations.AddField(
            model_name='botsettings',
            name='generative_model',
            field=models.CharField(blank=True, default='', max_length=200),
        ),
        migrations.AddField(
            model_name='botsettings',
            name='generative_url',
            field=models.URLField(blank=True, default='', help_text="OpenAI-compatible base URL, e.g. http://vllm:8000/v1; empty: the deployment's", max_length=300),
        ),
        migrations.AddField(
            model_name='message',
            name='citations',
            field=models.JSONField(blank=True, default=list, help_text='Composed replies: the articles quoted, [{"id": 1, "title": "...", "url": ""}]'),
        ),
        migrations.AddField(
            model_name='message',
            name='composer',
            field=models.CharField(blank=True, help_text='Composed replies: extractive or generative', max_length=16),
        ),
        migrations.AlterField(
            model_name='message',
            name='reply_kind',
            field=models.CharField(blank=True, choices=[('template', 'Intent template'), ('article', 'Knowledge-base article'), ('fallback', 'Fallback and handoff'), ('handoff', 'Intent handed off'), ('choice', 'Choice of two intents'), ('composed', 'Composed from articles')], max_length=16),
        ),
        migrations.CreateModel(
            name='ArticleSentence',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('position', models.PositiveIntegerField()),
                ('text', models.TextField()),
                ('embedding', pgvector.django.vector.VectorField(dimensions=384)),
                ('article', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='sentences', to='support_bot.article')),
                ('tenant', models.ForeignKey(editable=False, on_delete=django.db.models.deletion.CASCADE, to='tenancy.tenant')),
            ],
            options={
                'ordering': ['article', 'position'],
                'constraints': [models.UniqueConstraint(fields=('tenant', 'article', 'position'), name='articlesentence_tenant_article_pos')],
            },
        ),
        EnableRowLevelSecurity("articlesentence"),
    ]
