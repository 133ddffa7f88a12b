"""Forms of the bot's pages. They parse and shape input only; the services validate the
domain, and their refusals are put back on the fields with
:func:`dashboard.forms.add_service_error`."""

from __future__ import annotations

from django import forms

from api.lookups import MAX_ID
from apps.support_bot.models import MESSAGE_MAX_CHARS, UTTERANCE_MAX_CHARS, Conversation
from apps.support_bot.services import tags_split


class IntentForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(max_length=2000, required=False,
                                  widget=forms.Textarea(attrs={"rows": 2}))
    answer_template = forms.CharField(
        max_length=MESSAGE_MAX_CHARS, required=False, label="Answer template",
        help_text="The reply when this intent is recognised. Variables like {name} come from "
                  "the conversation's context. Empty: answer from the knowledge base.",
        widget=forms.Textarea(attrs={"rows": 3}))
    handoff = forms.BooleanField(required=False, label="Always hand over to a person")


class UtteranceForm(forms.Form):
    text = forms.CharField(max_length=UTTERANCE_MAX_CHARS, label="New utterance")


class CsvUploadForm(forms.Form):
    file = forms.FileField(label="CSV file")


class ArticleForm(forms.Form):
    question = forms.CharField(max_length=MESSAGE_MAX_CHARS,
                               widget=forms.Textarea(attrs={"rows": 2}))
    answer = forms.CharField(max_length=20_000, widget=forms.Textarea(attrs={"rows": 4}))
    tags = forms.CharField(max_length=1000, required=False,
                           help_text="Separated by commas or semicolons")

    def clean_tags(self) -> list[str]:
        return tags_split(self.cleaned_data["tags"])


class ChatForm(forms.Form):
    text = forms.CharField(max_length=MESSAGE_MAX_CHARS, label="Message",
                           # autofocus: htmx focuses it in the chat it swaps in after each
                           # send, so the next message can be typed straight away.
                           widget=forms.TextInput(attrs={"autocomplete": "off",
                                                         "autofocus": True,
                                                         "placeholder": "Ask the bot…"}))
    conversation = forms.IntegerField(required=False, widget=forms.HiddenInput,
                                      min_value=1, max_value=MAX_ID)


class AgentReplyForm(forms.Form):
    text = forms.CharField(max_length=MESSAGE_MAX_CHARS, label="Reply",
                           widget=forms.Textarea(attrs={"rows": 3}))
    save_as = forms.ChoiceField(choices=[("", "Do not save"),
                                         ("utterance", "Save the question as an utterance of"),
                                         ("article", "Save the reply as an article")],
                                required=False, label="Learn from it")
    intent = forms.CharField(max_length=100, required=False, label="Intent (for utterances)")


class ConversationFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "Any status"), *Conversation.Status.choices],
                               required=False)


class SettingsForm(forms.Form):
    intent_threshold = forms.FloatField(min_value=0.0, max_value=1.0,
                                        help_text="Minimum confidence to use an intent")
    article_threshold = forms.FloatField(min_value=0.0, max_value=1.0,
                                         help_text="Minimum similarity to answer with an article")
    followup_max_words = forms.IntegerField(min_value=0, max_value=50,
                                            label="Follow-up length (words)")
    fallback_message = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    widget_origins = forms.CharField(
        required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 3}),
        label="Allowed origins", help_text="One per line, e.g. https://shop.example.com")

    def clean_widget_origins(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["widget_origins"].splitlines()
                if line.strip()]
