"""The webhook settings page's form: the same fields as the API's write serializer."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from webhooks.models import EVENTS


class WebhookEndpointForm(forms.Form):
    url = forms.URLField(
        label=_("URL"), max_length=500, assume_scheme="https",
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/hooks"}),
        help_text=_("HTTPS, reachable from the internet; every request is signed."))
    description = forms.CharField(label=_("Description"), max_length=200, required=False)
    # Event names are part of the API (what a receiver matches on): never translated.
    events = forms.MultipleChoiceField(
        label=_("Events"), choices=[(event, event) for event in EVENTS], required=False,
        widget=forms.CheckboxSelectMultiple, help_text=_("None ticked: every event."))
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)
