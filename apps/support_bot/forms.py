"""Forms of the bot's pages. They parse and shape input only; the services validate the
domain, and their refusals are put back on the fields with
:func:`dashboard.forms.add_service_error`."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from api.lookups import MAX_ID
from apps.support_bot.models import (
    MESSAGE_MAX_CHARS,
    UTTERANCE_MAX_CHARS,
    WIDGET_LANGUAGES,
    Article,
    Conversation,
)
from apps.support_bot.services import tags_split


class IntentForm(forms.Form):
    name = forms.CharField(max_length=100, label=_("Name"))
    description = forms.CharField(max_length=2000, required=False, label=_("Description"),
                                  widget=forms.Textarea(attrs={"rows": 2}))
    answer_template = forms.CharField(
        max_length=MESSAGE_MAX_CHARS, required=False, label=_("Answer template"),
        help_text=_("The reply when this intent is recognised. Variables like {name} come from "
                    "the conversation's context. Empty: answer from the knowledge base."),
        widget=forms.Textarea(attrs={"rows": 3}))
    handoff = forms.BooleanField(required=False, label=_("Always hand over to a person"))
    article: forms.ModelChoiceField[Article] = forms.ModelChoiceField(
        queryset=None, required=False, label=_("Linked article"),  # set per request
        help_text=_("Answered with when the intent has no template of its own."))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The tenant's articles, read when the form is built (inside the request's tenant).
        field: Any = self.fields["article"]
        field.queryset = Article.objects.defer("embedding").order_by("question", "id")
        field.label_from_instance = lambda article: article.question[:80]


class UtteranceForm(forms.Form):
    text = forms.CharField(max_length=UTTERANCE_MAX_CHARS, label=_("New utterance"))


class CsvUploadForm(forms.Form):
    file = forms.FileField(label=_("CSV file"))


class ArticleForm(forms.Form):
    question = forms.CharField(max_length=MESSAGE_MAX_CHARS, label=_("Question"),
                               widget=forms.Textarea(attrs={"rows": 2}))
    answer = forms.CharField(max_length=20_000, label=_("Answer"),
                             widget=forms.Textarea(attrs={"rows": 4}))
    url = forms.CharField(max_length=500, required=False, label=_("Link"),
                          help_text=_("Where customers can read the article (cited with it)"))
    tags = forms.CharField(max_length=1000, required=False, label=_("Tags"),
                           help_text=_("Separated by commas or semicolons"))

    def clean_tags(self) -> list[str]:
        return tags_split(self.cleaned_data["tags"])


class ChatForm(forms.Form):
    text = forms.CharField(max_length=MESSAGE_MAX_CHARS, label=_("Message"),
                           # autofocus: htmx focuses it in the chat it swaps in after each
                           # send, so the next message can be typed straight away.
                           widget=forms.TextInput(attrs={"autocomplete": "off",
                                                         "autofocus": True,
                                                         "placeholder": _("Ask the bot…")}))
    conversation = forms.IntegerField(required=False, widget=forms.HiddenInput,
                                      min_value=1, max_value=MAX_ID)


class AgentReplyForm(forms.Form):
    text = forms.CharField(max_length=MESSAGE_MAX_CHARS, label=_("Reply"),
                           widget=forms.Textarea(attrs={"rows": 3}))
    save_as = forms.ChoiceField(choices=[("", _("Do not save")),
                                         ("utterance", _("Save the question as an utterance of")),
                                         ("article", _("Save the reply as an article"))],
                                required=False, label=_("Learn from it"))
    intent = forms.CharField(max_length=100, required=False, label=_("Intent (for utterances)"))


class ConversationFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", _("Any status")), *Conversation.Status.choices],
                               required=False, label=_("Status"))


class SettingsForm(forms.Form):
    intent_threshold = forms.FloatField(min_value=0.0, max_value=1.0,
                                        label=_("Intent threshold"),
                                        help_text=_("Minimum confidence to use an intent"))
    article_threshold = forms.FloatField(
        min_value=0.0, max_value=1.0, label=_("Article threshold"),
        help_text=_("Minimum similarity to answer with an article"))
    followup_max_words = forms.IntegerField(min_value=0, max_value=50,
                                            label=_("Follow-up length (words)"))
    fallback_message = forms.CharField(max_length=2000, label=_("Fallback message"),
                                       widget=forms.Textarea(attrs={"rows": 2}))
    target_false_handoff = forms.FloatField(
        min_value=0.001, max_value=0.49, label=_("Target false-handoff rate"),
        help_text=_("Share of in-scope questions the recommended out-of-scope threshold may "
                    "hand off, e.g. 0.03 for 3%; used by the next training"))
    scope_threshold = forms.FloatField(
        min_value=0.0, max_value=1.0, required=False, label=_("Out-of-scope threshold"),
        help_text=_("Minimum in-scope score (similarity to the training utterances) to answer "
                    "with an intent; empty: the intent confidence decides"))
    ambiguity_margin = forms.FloatField(
        min_value=0.0, max_value=1.0, label=_("Ambiguity margin"),
        help_text=_("When the two likeliest intents are closer than this, the customer chooses "
                    "between them (0: never ask)"))
    widget_origins = forms.CharField(
        required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 3}),
        label=_("Allowed origins"),
        help_text=_("One per line, e.g. https://shop.example.com"))
    widget_language = forms.ChoiceField(
        choices=WIDGET_LANGUAGES, required=False, label=_("Widget language"),
        help_text=_("The language of the widget's button and prompts. The visitor's browser: "
                    "Chinese for a browser set to Chinese, English otherwise. Changing it "
                    "changes the snippet below; paste it again."))
    widget_title = forms.CharField(
        required=False, max_length=80, label=_("Widget heading"),
        help_text=_("Empty: the workspace's name"))
    widget_greeting = forms.CharField(
        required=False, max_length=300, label=_("Greeting"),
        help_text=_("The bot's first words when a visitor opens the chat"))
    widget_colour = forms.CharField(
        required=False, max_length=7, label=_("Widget colour"),
        help_text=_("#rrggbb, e.g. #2456d6"),
        widget=forms.TextInput(attrs={"type": "color"}))
    widget_avatar_url = forms.CharField(
        required=False, max_length=500, label=_("Avatar URL"),
        help_text=_("An https:// image shown beside the heading"))

    generative_enabled = forms.BooleanField(
        required=False, label=_("Compose replies with a language model"),
        help_text=_("Used only when every sentence it writes is supported by the articles; "
                    "otherwise the reply quotes the articles"))
    generative_url = forms.CharField(
        required=False, max_length=300, label=_("Generator URL"),
        help_text=_("An OpenAI-compatible base URL, e.g. https://llm.example.com/v1; empty: "
                    "the platform's"))
    generative_model = forms.CharField(required=False, max_length=200,
                                       label=_("Generator model"))
    generative_api_key = forms.CharField(
        required=False, max_length=500, label=_("Generator API key"),
        widget=forms.PasswordInput(render_value=False),
        help_text=_("Stored encrypted and never shown; leave empty to keep the current key"))

    def clean_widget_origins(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["widget_origins"].splitlines()
                if line.strip()]


# --- The agents' inbox (apps.support_bot.views_inbox) -----------------------------------------


class NoteForm(forms.Form):
    text = forms.CharField(max_length=MESSAGE_MAX_CHARS, label=_("Internal note"),
                           help_text=_("Only agents see notes; the customer never does."),
                           widget=forms.Textarea(attrs={"rows": 2}))


class AssignForm(forms.Form):
    assignee = forms.IntegerField(min_value=1, max_value=MAX_ID, required=False,
                                  label=_("Assign to"))


class CannedReplyForm(forms.Form):
    title = forms.CharField(max_length=100, label=_("Title"))
    text = forms.CharField(max_length=MESSAGE_MAX_CHARS, label=_("Reply"),
                           widget=forms.Textarea(attrs={"rows": 3}))
