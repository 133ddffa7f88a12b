"""The default plans: Free, Pro and Enterprise, installed by a data migration and again
whenever no plan exists (a database emptied by tests); staff edit them in the console."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings

GB = Decimal(10**9)
HOUR = Decimal(3600)

# meter: (included, overage unit price, overage unit, hard limit or None)
Terms = dict[str, tuple[Decimal, Decimal, Decimal, Decimal | None]]
DEFAULT_PLANS: list[tuple[str, str, Decimal, int, str, Terms]] = [
    ("free", "Free", Decimal("0.00"), 0, "To try the platform: small monthly allowances, "
     "refused beyond them.", {
         "training_accelerator_seconds": (HOUR, Decimal(0), Decimal(1), HOUR),
         "inference_accelerator_seconds": (HOUR, Decimal(0), Decimal(1), HOUR),
         "items_inferred": (Decimal(10_000), Decimal(0), Decimal(1), Decimal(10_000)),
         "chat_messages": (Decimal(1_000), Decimal(0), Decimal(1), Decimal(1_000)),
         "generated_answers": (Decimal(200), Decimal(0), Decimal(1), Decimal(200)),
         "recommendation_requests": (Decimal(10_000), Decimal(0), Decimal(1), Decimal(10_000)),
         "api_calls": (Decimal(10_000), Decimal(0), Decimal(1), Decimal(10_000)),
         "storage_bytes": (GB, Decimal(0), GB, GB),
     }),
    ("pro", "Pro", Decimal("49.00"), 1, "For production use: generous allowances and "
     "pay-as-you-go overage up to a safety limit.", {
         "training_accelerator_seconds": (20 * HOUR, Decimal("1.20"), HOUR, 500 * HOUR),
         "inference_accelerator_seconds": (50 * HOUR, Decimal("0.90"), HOUR, 2_000 * HOUR),
         "items_inferred": (Decimal(1_000_000), Decimal("0.40"), Decimal(1_000),
                            Decimal(50_000_000)),
         "chat_messages": (Decimal(50_000), Decimal("2.00"), Decimal(1_000),
                           Decimal(5_000_000)),
         "generated_answers": (Decimal(20_000), Decimal("4.00"), Decimal(1_000),
                               Decimal(2_000_000)),
         "recommendation_requests": (Decimal(1_000_000), Decimal("0.20"), Decimal(1_000),
                                     Decimal(100_000_000)),
         "api_calls": (Decimal(1_000_000), Decimal("0.10"), Decimal(1_000),
                       Decimal(100_000_000)),
         "storage_bytes": (50 * GB, Decimal("0.10"), GB, 1_000 * GB),
     }),
    ("enterprise", "Enterprise", Decimal("499.00"), 2, "Large allowances, lower overage "
     "prices and no hard limits.", {
         "training_accelerator_seconds": (200 * HOUR, Decimal("0.90"), HOUR, None),
         "inference_accelerator_seconds": (500 * HOUR, Decimal("0.70"), HOUR, None),
         "items_inferred": (Decimal(20_000_000), Decimal("0.25"), Decimal(1_000), None),
         "chat_messages": (Decimal(1_000_000), Decimal("1.20"), Decimal(1_000), None),
         "generated_answers": (Decimal(500_000), Decimal("2.50"), Decimal(1_000), None),
         "recommendation_requests": (Decimal(20_000_000), Decimal("0.10"), Decimal(1_000),
                                     None),
         "api_calls": (Decimal(20_000_000), Decimal("0.05"), Decimal(1_000), None),
         "storage_bytes": (1_000 * GB, Decimal("0.05"), GB, None),
     }),
]


def install_default_plans(plan_model: Any, plan_meter_model: Any) -> int:
    """Create the default plans that do not exist (by code); returns how many were created.
    Takes the models as arguments so that the data migration can pass its historical ones."""
    created_count = 0
    for code, name, fee, position, description, meters in DEFAULT_PLANS:
        plan, created = plan_model.objects.get_or_create(
            code=code, defaults={"name": name, "monthly_fee": fee, "position": position,
                                 "description": description})
        if not created:
            continue
        created_count += 1
        plan_meter_model.objects.bulk_create([
            plan_meter_model(plan=plan, meter=meter, included_quantity=included,
                             overage_unit_price=price, overage_unit=unit, hard_limit=limit)
            for meter, (included, price, unit, limit) in meters.items()
        ])
    return created_count


def install_missing_terms(plan_model: Any, plan_meter_model: Any) -> int:
    """Give the default plans that exist the terms of meters added since they were installed
    (a meter without terms would be unlimited and unpriced); returns how many were added.
    Takes the models as arguments for data migrations; staff-edited terms are kept."""
    added = 0
    for code, _name, _fee, _position, _description, meters in DEFAULT_PLANS:
        plan = plan_model.objects.filter(code=code).first()
        if plan is None:
            continue
        have = set(plan_meter_model.objects.filter(plan=plan).values_list("meter", flat=True))
        missing = [plan_meter_model(plan=plan, meter=meter, included_quantity=included,
                                    overage_unit_price=price, overage_unit=unit,
                                    hard_limit=limit)
                   for meter, (included, price, unit, limit) in meters.items()
                   if meter not in have]
        plan_meter_model.objects.bulk_create(missing)
        added += len(missing)
    return added


def default_plan(plan_model: Any) -> Any:
    """The plan a new tenant starts on: ``BILLING_DEFAULT_PLAN``, else the cheapest; None when
    no plan exists. A read; takes the model as an argument for the data migration."""
    return (plan_model.objects.filter(code=settings.BILLING_DEFAULT_PLAN).first()
            or plan_model.objects.order_by("monthly_fee", "pk").first())
