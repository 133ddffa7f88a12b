"""Dashboard pages of billing: usage against the plan (with the period chart and the
projection), the plan and its changes, invoices (printable HTML and CSV).

Every query goes through the tenant-scoped managers: another tenant's invoice is a 404, the
same as a missing one. Everyone in the workspace reads; owners and admins change the plan.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from billing import charts, selectors, services
from billing.exports import invoice_csv_response
from billing.models import Meter, Plan
from dashboard.views import workspace_view
from tenancy.models import Role


@require_safe
@workspace_view()
def usage(request: HttpRequest) -> HttpResponse:
    summary = selectors.usage_summary()
    wanted = request.GET.get("meter", "")
    if wanted not in Meter.values:
        used = [meter.meter for meter in summary.meters if meter.used > 0]
        wanted = used[0] if used else Meter.ITEMS_INFERRED
    selected = next(meter for meter in summary.meters if meter.meter == wanted)
    return render(request, "billing/usage.html", {
        "summary": summary, "selected": selected,
        "chart": charts.usage_chart(selected, today=timezone.now().date()),
    })


@require_safe
@workspace_view()
def billing_overview(request: HttpRequest) -> HttpResponse:
    """The plan, this period's estimated bill, the plans to change to (owners and admins),
    and the invoices."""
    subscription = selectors.subscription_current()
    return render(request, "billing/overview.html", {
        "subscription": subscription,
        "estimate": services.plan_change_estimate(plan_code=subscription.plan.code),
        "plans": Plan.objects.filter(is_public=True).prefetch_related("meters"),
        "invoices": selectors.invoice_list(),
    })


@require_safe
@workspace_view(minimum_role=Role.ADMIN)
def plan_confirm(request: HttpRequest) -> HttpResponse:
    """What a plan change costs (the new fee, its prorated amount for the rest of the period
    and the period's estimated bill), with the button that makes it."""
    try:
        estimate = services.plan_change_estimate(plan_code=request.GET.get("plan", ""))
    except services.BillingError as error:
        messages.error(request, str(error))
        return redirect("billing:overview")
    return render(request, "billing/plan_confirm.html", {"estimate": estimate})


@require_POST
@workspace_view(minimum_role=Role.ADMIN)
def plan_change(request: HttpRequest) -> HttpResponse:
    plan_code = request.POST.get("plan", "")
    # A change is made only from the confirmation page, which shows its price: a bare POST
    # (an old form, a double click on the plan card) is sent there instead.
    if request.POST.get("confirmed") != "yes":
        return redirect(f"{reverse('billing:plan_confirm')}?{urlencode({'plan': plan_code})}")
    try:
        subscription = services.subscription_change_plan(plan_code=plan_code)
    except services.BillingError as error:
        messages.error(request, str(error))
        return redirect("billing:overview")
    if subscription.pending_plan is not None:
        messages.success(request, _(
            "You move to %(pending)s on %(date)s; until then %(plan)s stays in force.") % {
                "pending": subscription.pending_plan.name,
                "date": date_format(subscription.period_end, "DATE_FORMAT"),
                "plan": subscription.plan.name})
    else:
        messages.success(request, _("You are now on %(plan)s.") % {"plan": subscription.plan.name})
    return redirect("billing:overview")


@require_safe
@workspace_view()
def invoice_detail(request: HttpRequest, pk: int) -> HttpResponse:
    invoice = get_object_or_404(selectors.invoice_with_lines(), pk=pk)
    return render(request, "billing/invoice.html", {"invoice": invoice})


@require_safe
@workspace_view()
def invoice_csv(request: HttpRequest, pk: int) -> HttpResponse:
    return invoice_csv_response(get_object_or_404(selectors.invoice_with_lines(), pk=pk))
