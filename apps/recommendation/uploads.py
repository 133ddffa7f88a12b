"""The dashboard's CSV upload of the catalogue and of events: the API's services
(``services.items_csv_upload``, ``events_csv_upload``: the same validation, all or nothing)
behind a form, and a refusal shown in the datasets page's problem table (row, column,
problem). Members upload; viewers see the formats."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_http_methods

from apps.recommendation import services
from apps.recommendation.spec import EVENTS_CSV, ITEMS_CSV
from config.errors import ServiceError
from config.problems import RowsInvalid
from dashboard.views import require_role, workspace_view
from tenancy.models import Role

KINDS = (("items", gettext_lazy("Catalogue (items)")), ("events", gettext_lazy("Events")))


class CsvUploadForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("What the file holds"), choices=KINDS)
    file = forms.FileField(label=gettext_lazy("CSV file"),
                           help_text=gettext_lazy("UTF-8, with a header row; up to 50 MB"))


def _stored(request: HttpRequest, kind: str, data: bytes, filename: str) -> None:
    if kind == "items":
        items = services.items_csv_upload(data=data, filename=filename)
        messages.success(request, _("Catalogue uploaded: %(created)d new items, %(updated)d "
                                    "updated.") % {"created": items.created,
                                                   "updated": items.updated})
    else:
        events = services.events_csv_upload(data=data, filename=filename)
        messages.success(request, ngettext(
            "Events uploaded: %(created)d new event (%(duplicates)d already stored).",
            "Events uploaded: %(created)d new events (%(duplicates)d already stored).",
            events.created) % {"created": events.created, "duplicates": events.duplicates})


@require_http_methods(["GET", "HEAD", "POST"])
@workspace_view()
def csv_upload(request: HttpRequest) -> HttpResponse:
    form = CsvUploadForm(initial={"kind": request.GET.get("kind", "items")})
    refusal: RowsInvalid | None = None
    status = 200
    if request.method == "POST":
        require_role(request, Role.MEMBER, action=_("upload the catalogue or events"))
        form = CsvUploadForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                if upload.size > services.MAX_CSV_BYTES:
                    raise services.RecsError(_("The file is larger than 50 MB."),
                                             fields={"file": [_("at most 50 MB")]})
                _stored(request, form.cleaned_data["kind"], upload.read(),
                        upload.name or "upload.csv")
            except RowsInvalid as error:
                refusal = error
            except ServiceError as error:
                form.add_error("file", str(error))
            else:
                return redirect("recs:catalogue" if form.cleaned_data["kind"] == "items"
                                else "recs:overview")
        status = 400
    return render(request, "recommendation/upload.html", {
        "form": form, "refusal": refusal,
        "formats": (("items", ITEMS_CSV), ("events", EVENTS_CSV))}, status=status)
