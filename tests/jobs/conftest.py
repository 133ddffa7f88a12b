from __future__ import annotations

import pytest

from jobs.models import Dataset
from jobs.services import dataset_create
from tenancy.context import tenant_context
from tests.conftest import TenantSetup

LABELLED_CSV = (
    b"text,label\n"
    b"Shares of $ACME soar after record quarter,positive\n"
    b"$ACME misses estimates and cuts guidance,negative\n"
    b"ACME to hold annual meeting on Tuesday,neutral\n"
    b"Investors cheer $ACME buyback,1\n"
    b"Regulators fine ACME over accounting,0\n"
    b"ACME reports results in line,2\n"
)


def labelled_dataset(setup: TenantSetup, data: bytes = LABELLED_CSV) -> Dataset:
    with tenant_context(setup.tenant.pk):
        return dataset_create(app="finance_sentiment", purpose="labelled", name="train.csv",
                              filename="train.csv", data=data, created_by_id=setup.owner.pk)


@pytest.fixture
def acme_labelled(acme: TenantSetup) -> Dataset:
    return labelled_dataset(acme)
