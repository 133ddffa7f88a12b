"""The dashboard page of the merchandising rules: the rules with the form that adds a pin or a
boost, and a delete button on each. Viewers read; members add and delete. Another tenant's
rule is a 404."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from apps.recommendation.models import EXTERNAL_ID_LENGTH
from apps.recommendation.rules import selectors, services
from apps.recommendation.rules.models import (
    CATEGORY_LENGTH,
    MAX_SHARE,
    MAX_SLOT,
    MIN_SHARE,
    MIN_SLOT,
    MerchandisingRule,
    RuleKind,
)
from dashboard.views import require_role, workspace_view
from tenancy.models import Role


class RuleForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=RuleKind.choices)
    item = forms.CharField(label=gettext_lazy("Item (external id)"), required=False,
                           max_length=EXTERNAL_ID_LENGTH)
    category = forms.CharField(label=gettext_lazy("Category (boosts)"), required=False,
                               max_length=CATEGORY_LENGTH)
    slot = forms.IntegerField(label=gettext_lazy("Slot (pins)"), required=False,
                              min_value=MIN_SLOT, max_value=MAX_SLOT)
    share = forms.FloatField(label=gettext_lazy("Share of slots (category boosts)"),
                             required=False, min_value=MIN_SHARE, max_value=MAX_SHARE,
                             help_text=gettext_lazy("From 0.05 to 1; default 0.2"))
    starts_at = forms.DateTimeField(label=gettext_lazy("Starts"), required=False)
    ends_at = forms.DateTimeField(label=gettext_lazy("Ends"), required=False)


def _add(form: RuleForm) -> MerchandisingRule | None:
    if not form.is_valid():
        return None
    data = form.cleaned_data
    try:
        return services.rule_create(kind=data["kind"], item=data["item"] or None,
                                    category=data["category"], slot=data["slot"],
                                    share=data["share"], starts_at=data["starts_at"],
                                    ends_at=data["ends_at"])
    except services.RuleError as error:
        field = next(iter(error.fields), None)
        form.add_error(field if field in form.fields else None, str(error))
        return None


@require_http_methods(["GET", "HEAD", "POST"])
@workspace_view()
def rule_list(request: HttpRequest) -> HttpResponse:
    form = RuleForm()
    status = 200
    if request.method == "POST":
        require_role(request, Role.MEMBER, action=_("change merchandising rules"))
        form = RuleForm(request.POST)
        if _add(form) is not None:
            messages.success(request, _("Rule added: it applies to the next served lists."))
            return redirect("recs:rules")
        status = 400
    return render(request, "recommendation/rules.html",
                  {"rules": selectors.rule_list()[:200], "form": form}, status=status)


@require_POST
@workspace_view()
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request, Role.MEMBER, action=_("change merchandising rules"))
    rule = get_object_or_404(MerchandisingRule.objects.all(), pk=pk)
    services.rule_delete(rule=rule)
    messages.success(request, _("Rule deleted."))
    return redirect("recs:rules")
