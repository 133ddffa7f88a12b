"""The bot's part of the overview page (registered in ``apps.py``; see ``dashboard.home``)."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _

from apps.support_bot import selectors
from apps.support_bot.models import Conversation, Intent
from apps.support_bot.spec import APP
from dashboard.home import AppHome, Figure, Step, percent
from jobs.services import active_version
from tenancy.models import Role


def summary(*, base_url: str) -> AppHome:
    stats = selectors.analytics()
    trained_intents = Intent.objects.filter(utterances__isnull=False).distinct().count()
    conversations = Conversation.objects.values_list("channel", flat=True).distinct()
    channels = set(conversations)
    snippet = (
        f"curl -X POST {base_url}/api/v1/bot/conversations \\\n"
        "  -H \"Authorization: Bearer $API_KEY\" -H 'Content-Type: application/json' \\\n"
        "  -d '{\"external_user_id\": \"customer-1\"}'\n"
        f"curl -X POST {base_url}/api/v1/bot/conversations/<id>/messages \\\n"
        "  -H \"Authorization: Bearer $API_KEY\" -H 'Content-Type: application/json' \\\n"
        "  -d '{\"text\": \"Where is my card?\"}'")
    return AppHome(
        label=APP,
        name=_("Support bot"),
        description=_("Answers customer messages from your intents and knowledge base, and "
                      "hands off to a person when unsure."),
        url=reverse("bot:overview"),
        figures=(
            Figure(_("Conversations (30 days)"), str(stats.conversations), "conversations"),
            Figure(_("Containment"), percent(stats.containment_rate), "containment"),
        ),
        steps=(
            Step("load", _("Load data"),
                 _("Import a CSV of text,intent utterances (at least two intents)."),
                 trained_intents >= 2, reverse("bot:intents")),
            Step("train", _("Train the intent model"),
                 _("Press Train on the intents page; the first model is used at once."),
                 active_version(app=APP) is not None, reverse("bot:intents")),
            Step("try", _("Try it"), _("Chat with the bot in the try-it page."),
                 Conversation.Channel.DASHBOARD in channels, reverse("bot:try"),
                 minimum_role=Role.MEMBER),
            Step("integrate", _("Integrate"),
                 _("Start conversations from your site or app with an API key, or embed the "
                   "web widget (bot settings)."),
                 bool(channels & {Conversation.Channel.API, Conversation.Channel.WIDGET}),
                 reverse("api:docs"), snippet),
        ),
    )
