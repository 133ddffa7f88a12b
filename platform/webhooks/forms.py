"""The webhook settings page's form: the same fields as the API's write serializer."""

from __future__ import annotations

from django import forms

from webhooks.models import EVENTS


class WebhookEndpointForm(forms.Form):
    url = forms.URLField(label="URL", max_length=500, assume_scheme="https",
                         widget=forms.URLInput(attrs={"placeholder": "https://example.com/hooks"}),
                         help_text="HTTPS, reachable from the internet; every request is signed.")
    description = forms.CharField(max_length=200, required=False)
    events = forms.MultipleChoiceField(
        choices=[(event, event) for event in EVENTS], required=False,
        widget=forms.CheckboxSelectMultiple, help_text="None ticked: every event.")
    is_active = forms.BooleanField(label="Active", required=False, initial=True)
