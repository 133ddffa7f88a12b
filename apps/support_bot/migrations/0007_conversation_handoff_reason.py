"""A conversation keeps why it was handed off (the webhook and the email already said it), for
the resolution analytics' handoff reasons. Conversations handed off before this take the
reason their handing-off bot reply shows: a handoff reply without an intent is the
customer's request, one with an intent is that intent's handoff, a fallback is out of scope
when the model said so and low confidence otherwise; without such a reply, ``requested``."""

from django.db import migrations, models

from tenancy.context import unscoped


def reasons_from_replies(apps, schema_editor):
    conversation_model = apps.get_model("support_bot", "Conversation")
    message_model = apps.get_model("support_bot", "Message")
    with unscoped():  # every tenant's conversations
        handed = conversation_model.objects.filter(handed_off_at__isnull=False,
                                                   handoff_reason="")
        for conversation in handed.iterator():
            reply = (message_model.objects.filter(
                conversation_id=conversation.pk, role="bot",
                reply_kind__in=["handoff", "fallback"],
                created_at__lte=conversation.handed_off_at).order_by("-id").first())
            if reply is None:
                reason = "requested"
            elif reply.reply_kind == "handoff":
                reason = f"intent:{reply.intent}"[:120] if reply.intent else "customer_request"
            else:
                reason = "out_of_scope" if reply.intent == "out_of_scope" else "low_confidence"
            conversation_model.objects.filter(pk=conversation.pk).update(handoff_reason=reason)


class Migration(migrations.Migration):
    dependencies = [
        ("support_bot", "0006_handoff_ownership_notes_canned_replies"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversation", name="handoff_reason",
            field=models.CharField(blank=True, max_length=120),
        ),
        migrations.RunPython(reasons_from_replies, migrations.RunPython.noop),
    ]
