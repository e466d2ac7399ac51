"""Amounts are exact on both databases we run on: PostgreSQL (production, the suite) and SQLite
(the embedded default of `make run`).  Every test here runs on each.

For SQLite the ``sqlite`` alias of config/test_settings.py is used two ways: the ORM tests
name it (``.using(alias)``); the tests of the actions, the API and the pages run with it as
the default connection of this thread (``on_database``), so the very code that production
runs writes and reads SQLite.
"""

from __future__ import annotations

from contextlib import contextmanager
from decimal import ROUND_DOWN, Decimal

import pytest
from django.db import IntegrityError, connection, connections, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.models import ExpressionWrapper, F, Q, Sum
from django.test import Client

from balances.actions.payout import balance_debit_for_payout, balance_hold_for_payout
from balances.models import Balance, BalanceChange
from balances.providers.base import ProviderError, check_amount, decimal_from_string
from balances.sync.plan import CurrencyPlan, Figures, Plan
from core.actors import Actor
from core.errors import Unprocessable
from core.money import currencies
from core.money.dbfields import (
    AmountField,
    AmountNotStorable,
    AmountSum,
    amount_value,
    from_units,
    to_units,
)
from core.money.unit_migration import AmountsBeyondStorage
from payouts import actions as payout_actions
from payouts.models import Payout
from services.fees import actions as fee_actions
from services.models import FeeProfile, FeeRule, Service
from tests.config.helpers import assert_error, body, send
from tests.factories import BalanceFactory, ServiceFactory, UserFactory

D = Decimal
ALIASES = ["default", "sqlite"]
BOTH = pytest.mark.django_db(databases=ALIASES)
MAX = currencies.MAX_ABS_AMOUNT
SYSTEM = Actor.system("tests")

# (currency, decimals): ISO 4217 minor units and a crypto asset.
CURRENCIES = [("EUR", 2), ("JPY", 0), ("KWD", 3), ("USDT_TRC20", 8)]


def largest(decimals: int) -> Decimal:
    """The largest amount a currency with ``decimals`` allows: storage's bound on its grid."""
    return MAX.quantize(D(1).scaleb(-decimals), rounding=ROUND_DOWN)


def smallest(decimals: int) -> Decimal:
    return D(1).scaleb(-decimals)


def text(amount: Decimal) -> str:
    """As a client writes it: plain digits ("0.00000001", never "1E-8")."""
    return format(amount, "f")


EXTREMES = [
    pytest.param(code, value, id=f"{code}:{text(value)}")
    for code, places in CURRENCIES
    for value in (largest(places), smallest(places), -largest(places), -smallest(places))
]


@pytest.fixture(params=ALIASES)
def alias(request):
    return request.param


@contextmanager
def default_connection(alias: str):
    """Make ``alias`` this thread's default connection for a while (tests only): what the
    actions, the views and the factories do without naming a database goes there."""
    if alias == "default":
        yield
        return
    handler = connections._connections
    saved = connections["default"]
    setattr(handler, "default", connections[alias])
    try:
        yield
    finally:
        setattr(handler, "default", saved)


@pytest.fixture
def on_database(alias):
    # The test's transaction is already open on both databases (the django_db mark), so
    # swapping the default now sends this test's queries into SQLite's open transaction.
    assert connections["default"].in_atomic_block and connections[alias].in_atomic_block
    with default_connection(alias):
        assert connection.vendor == ("postgresql" if alias == "default" else "sqlite")
        yield alias


def units_in_column(alias: str, model, pk: int, column: str) -> object:
    """What the database holds, read without Django's conversion."""
    table = model._meta.db_table
    with connections[alias].cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


# --- the field, without a database --------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "units"),
    [
        (D("12345678901.12345678"), 1234567890112345678),
        (D("0.00000001"), 1),
        (D("-0.00000001"), -1),
        (MAX, 2**63 - 1),
        (-MAX, -(2**63 - 1)),
        (D("0E-16384"), 0),
        (D("1E+3"), 100_000_000_000),
        (D("10.500000000000000000000000000000"), 1_050_000_000),  # more digits than a context
        (7, 700_000_000),
        ("12.5", 1_250_000_000),
    ],
)
def test_amounts_become_storage_units_exactly_and_back(amount, units):
    assert to_units(amount) == units
    assert from_units(units) == D(amount)
    assert from_units(units).as_tuple().exponent == -8


@pytest.mark.parametrize(
    "amount",
    [
        D("0.000000001"),
        D("1.0000000000000000000000000000001"),  # a 28-digit context would round this to 1
        MAX + D("0.00000001"),
        -MAX - D("0.00000001"),
        D("99999999999999999999"),
        D("1E+999999"),
        D("1E-999999"),
        D("NaN"),
        D("Infinity"),
        1.5,
        True,
        "12,5",
    ],
)
def test_what_storage_cannot_keep_is_refused_never_rounded(amount):
    with pytest.raises(AmountNotStorable):
        to_units(amount)


def test_the_bound_is_what_a_64_bit_integer_of_units_keeps():
    assert str(MAX) == "92233720368.54775807"
    assert currencies.parse_decimal(str(MAX)) == MAX
    for beyond in ("92233720368.54775808", "922337203685", str(-MAX - D("0.00000001"))):
        with pytest.raises(currencies.AmountError):
            currencies.parse_decimal(beyond)


def test_provider_amounts_have_the_same_bound():
    assert check_amount(MAX, "available") == MAX
    for beyond in ("92233720368.54775808", "99999999999999999999"):
        with pytest.raises(ProviderError) as caught:
            decimal_from_string(beyond, "available")
        assert caught.value.category == "bad_response"


def plan_result_provider(extras):
    return Plan(entries=(), snapshot_extras=extras).as_result(taken_at="now")["provider"]


def test_sync_results_write_amounts_without_an_exponent():
    zero = D("0E-8")
    plan = CurrencyPlan(
        "USDT_TRC20",
        "updated",
        Figures(zero, zero, zero),
        Figures(D("1E+2"), zero, zero),
        extras={"posted": zero, "total": D("1E+2")},
    )
    data = plan.as_dict()
    assert data["available"] == {"old": "0.00000000", "new": "100.00000000"}
    assert data["providerFigures"] == {"posted": "0.00000000", "total": "100.00000000"}
    assert plan_result_provider({"rate": D("1E+2"), "fee": D("0E-8")}) == {
        "rate": "100",
        "fee": "0.00000000",
    }


# --- round trips of the extremes ----------------------------------------------------------


@BOTH
@pytest.mark.parametrize(("currency", "amount"), EXTREMES)
def test_the_extremes_of_each_currency_round_trip_exactly(alias, currency, amount):
    service = Service.objects.using(alias).create(name="Extremes", country="DE")
    parsed = currencies.parse_amount(text(amount), currency)
    balance = Balance.objects.using(alias).create(
        service=service, currency=currency, available=parsed, pending=-parsed, reserved=parsed
    )

    read = Balance.objects.using(alias).get(pk=balance.pk)

    assert (read.available, read.pending, read.reserved) == (amount, -amount, amount)
    assert currencies.plain_amount(read.available, currency) == text(amount)
    # Stored as an exact integer of 10^-8 units, on SQLite as on PostgreSQL.
    assert units_in_column(alias, Balance, balance.pk, "available") == to_units(amount)
    assert Balance.objects.using(alias).filter(available=amount).count() == 1


@BOTH
def test_the_case_seen_on_sqlite_keeps_all_its_digits(alias):
    service = Service.objects.using(alias).create(name="USDT", country="DE")
    amount = D("12345678901.12345678")
    balance = Balance.objects.using(alias).create(
        service=service, currency="USDT_TRC20", available=amount
    )
    assert Balance.objects.using(alias).get(pk=balance.pk).available == amount
    assert str(Balance.objects.using(alias).get(pk=balance.pk).available) == str(amount)


@BOTH
@pytest.mark.parametrize(
    "amount", [D("0.000000001"), MAX + D("0.00000001"), D("99999999999999999999")]
)
def test_a_model_write_storage_cannot_keep_fails_before_the_database(alias, amount):
    service = Service.objects.using(alias).create(name="Refused", country="DE")
    with pytest.raises(AmountNotStorable), transaction.atomic(using=alias):
        Balance.objects.using(alias).create(service=service, currency="EUR", available=amount)
    assert not Balance.objects.using(alias).filter(service=service).exists()


# --- sums, comparisons and expressions ------------------------------------------------------


@pytest.fixture
def usdt_balances(alias):
    """Five USDT balances at the edges, in one service each."""
    values = [MAX, -MAX, D("0.00000001"), D("12345678901.12345678"), D("0")]
    rows = []
    for i, value in enumerate(values):
        service = Service.objects.using(alias).create(name=f"S{i}", country="DE")
        rows.append(
            Balance.objects.using(alias).create(
                service=service, currency="USDT_TRC20", available=value
            )
        )
    return rows


@BOTH
def test_sums_are_exact(alias, usdt_balances):
    qs = Balance.objects.using(alias).filter(currency="USDT_TRC20")
    # Subsets whose running total stays within storage in any order (SQLite sums integers
    # as integers and refuses to overflow; PostgreSQL sums bigints as numeric).
    without_top = qs.exclude(available=MAX).aggregate(total=Sum("available"))["total"]
    edges = qs.filter(available__in=[MAX, -MAX, 0]).aggregate(total=Sum("available"))["total"]

    assert without_top == -MAX + D("12345678901.12345679")
    assert edges == 0
    assert isinstance(without_top, Decimal) and isinstance(edges, Decimal)


@BOTH
def test_totals_beyond_64_bits_are_exact_with_amount_sum(alias):
    for i in range(3):
        service = Service.objects.using(alias).create(name=f"Big {i}", country="DE")
        Balance.objects.using(alias).create(
            service=service, currency="USDT_TRC20", available=MAX, held=MAX
        )
    qs = Balance.objects.using(alias).filter(currency="USDT_TRC20")

    totals = qs.aggregate(
        total=AmountSum("available"),
        free=AmountSum(F("available") - F("held"), output_field=AmountField()),
        negative=AmountSum("available", filter=Q(available__lt=0)),
    )

    assert totals == {"total": 3 * MAX, "free": D(0), "negative": None}
    by_currency = qs.values("currency").annotate(total=AmountSum("held")).get()
    assert by_currency["total"] == 3 * MAX


@BOTH
def test_comparisons_and_ordering_are_exact(alias, usdt_balances):
    qs = Balance.objects.using(alias).filter(currency="USDT_TRC20")
    one_unit = D("0.00000001")

    assert qs.filter(available__gte=MAX).count() == 1
    assert qs.filter(available__gt=MAX - one_unit).count() == 1
    assert qs.filter(available__lte=-MAX).count() == 1
    assert qs.filter(available__gt=0, available__lt=D("0.00000002")).count() == 1
    assert list(qs.order_by("available").values_list("available", flat=True)) == [
        -MAX,
        D("0"),
        one_unit,
        D("12345678901.12345678"),
        MAX,
    ]


@BOTH
def test_expressions_on_amounts_are_exact(alias, usdt_balances):
    qs = Balance.objects.using(alias).filter(currency="USDT_TRC20")
    top = usdt_balances[0]
    one_unit = D("0.00000001")

    qs.filter(pk=top.pk).update(held=F("available") - amount_value(one_unit))
    # available >= held + 0.00000001: the top (held one unit below it), 0.00000001 and
    # 12345678901.12345678; strictly greater: only the last.
    assert qs.filter(available__gte=F("held") + amount_value(one_unit)).count() == 3
    assert qs.filter(available__gt=F("held") + amount_value(one_unit)).count() == 1
    free = qs.annotate(
        free=ExpressionWrapper(F("available") - F("held"), output_field=AmountField())
    ).get(pk=top.pk)
    assert free.free == one_unit and free.held == MAX - one_unit

    qs.filter(pk=top.pk).update(available=F("available") - amount_value(MAX))
    assert qs.get(pk=top.pk).available == 0
    qs.filter(pk=top.pk).update(available=F("available") + amount_value(D("12.34567891")))
    assert qs.get(pk=top.pk).available == D("12.34567891")


@BOTH
def test_bulk_writes_convert_amounts_exactly(alias, usdt_balances):
    rows = list(Balance.objects.using(alias).filter(currency="USDT_TRC20").order_by("pk"))
    for i, row in enumerate(rows):
        row.pending = MAX - D(i).scaleb(-8)
    Balance.objects.using(alias).bulk_update(rows, ["pending"])
    assert [b.pending for b in Balance.objects.using(alias).order_by("pk")] == [
        MAX - D(i).scaleb(-8) for i in range(len(rows))
    ]

    again = [
        Balance(service_id=row.service_id, currency="USDT_TRC20", available=-MAX) for row in rows
    ]
    Balance.objects.using(alias).bulk_create(
        again,
        update_conflicts=True,
        unique_fields=["service", "currency"],
        update_fields=["available", "currency"],
    )
    assert set(Balance.objects.using(alias).values_list("available", flat=True)) == {-MAX}


@BOTH
def test_payout_totals_sum_exactly_with_an_amount_output_field(alias):
    service = Service.objects.using(alias).create(name="Totals", country="DE")
    for amount, fee in [(MAX - D("1"), D("0.99999999")), (D("0.00000001"), D("0"))]:
        Payout.objects.using(alias).create(
            service=service, currency="USDT_TRC20", amount=amount, fee=fee, destination="d"
        )
    totals = Payout.objects.using(alias).aggregate(
        total=Sum(F("amount") + F("fee"), output_field=AmountField()),
        fees=Sum("fee"),
    )
    assert totals == {"total": MAX, "fees": D("0.99999999")}


@BOTH
def test_the_check_constraints_still_hold_on_integers(alias):
    service = Service.objects.using(alias).create(name="Constraints", country="DE")
    balance = Balance.objects.using(alias).create(service=service, currency="EUR")
    profile = FeeProfile.objects.using(alias).create(name="Checks")
    refused = [
        lambda: Balance.objects.using(alias).filter(pk=balance.pk).update(held=D("-0.00000001")),
        lambda: FeeRule.objects.using(alias).create(
            profile=profile, operation="payout", fixed_amount=D("-0.01")
        ),
        lambda: FeeRule.objects.using(alias).create(
            profile=profile, operation="payin", minimum_fee=D("1.00"), maximum_fee=D("0.99")
        ),
        lambda: Payout.objects.using(alias).create(
            service=service, currency="EUR", amount=D("0"), destination="d"
        ),
    ]
    for attempt in refused:
        with pytest.raises(IntegrityError), transaction.atomic(using=alias):
            attempt()
    FeeRule.objects.using(alias).create(
        profile=profile, operation="refund", minimum_fee=MAX, maximum_fee=MAX
    )


# --- the doors: API and pages, holds, fees and payouts --------------------------------------


@pytest.fixture
def operator_api_on(on_database, make_api_key):
    operator = UserFactory(username="otto", role="operator")
    return Client(headers={"Authorization": f"Bearer {make_api_key(operator)}"})


@pytest.fixture
def admin_api_on(on_database, make_api_key):
    admin = UserFactory(username="ada", role="admin")
    return Client(headers={"Authorization": f"Bearer {make_api_key(admin)}"})


def balances_url(service) -> str:
    return f"/api/v1/services/{service.public_id}/balances"


@BOTH
@pytest.mark.parametrize(("currency", "amount"), EXTREMES)
def test_the_api_and_the_page_keep_every_digit_of_the_extremes(
    on_database, operator_api_on, currency, amount
):
    service = ServiceFactory()
    raw = f'{{"currency": "{currency}", "amount": "{text(amount)}"}}'

    response = send(operator_api_on, "post", balances_url(service), raw)

    assert response.status_code == 201, response.content
    listed = operator_api_on.get(balances_url(service)).content.decode()
    assert f'"currency": "{currency}", "amount": {text(amount)},' in listed
    operator = Client()
    operator.force_login(UserFactory(username="page", role="operator"))
    page = operator.get(f"/services/{service.public_id}/balances/")
    assert page.status_code == 200
    shown = currencies.format_amount(amount, currency)
    assert shown in page.content.decode()


@BOTH
@pytest.mark.parametrize(("currency", "places"), CURRENCIES)
def test_one_digit_more_is_a_400_naming_the_amount(on_database, operator_api_on, currency, places):
    service = ServiceFactory()
    BalanceFactory(service=service, currency=currency, available=D("1"))
    too_big = [
        str(int(largest(places)) * 10 + 9),  # one more integer digit
        text(largest(places) + smallest(places)),  # one unit beyond the largest
        text(-largest(places) - smallest(places)),
    ]
    too_precise = text(smallest(places) / 10)
    for amount in [*too_big, too_precise]:
        created = send(
            operator_api_on,
            "post",
            balances_url(ServiceFactory()),
            {"currency": currency, "amount": amount},
        )
        edited = send(
            operator_api_on,
            "patch",
            f"{balances_url(service)}/{currency}",
            {"amount": amount, "reason": "test"},
        )
        for response in (created, edited):
            error = assert_error(response, 400, "validation_error")
            assert "amount" in error["details"], (amount, error)
    assert Balance.objects.get(service=service).available == D("1")
    assert Balance.objects.count() == 1


@BOTH
def test_fee_rules_and_quotes_take_the_extremes_and_refuse_one_digit_more(
    on_database, admin_api_on
):
    rule = {
        "operation": "payout",
        "currency": "USDT_TRC20",
        "percentage": "0",
        "fixed_amount": "0.00000001",
        "minimum_fee": str(MAX),
        "maximum_fee": str(MAX),
        "minimum_payout_amount": "0.00000001",
    }
    created = send(admin_api_on, "post", "/api/v1/fee-profiles", {"name": "Edges", "rules": [rule]})
    assert created.status_code == 201, created.content
    stored = FeeRule.objects.get()
    assert (stored.fixed_amount, stored.minimum_fee, stored.maximum_fee) == (
        D("0.00000001"),
        MAX,
        MAX,
    )
    assert stored.minimum_payout_amount == D("0.00000001")
    profile = FeeProfile.objects.get()
    quote = send(
        admin_api_on,
        "post",
        f"/api/v1/fee-profiles/{profile.pk}/quote",
        {"operation": "payout", "currency": "USDT_TRC20", "amount": str(MAX)},
    )
    assert body(quote)["fee"] == MAX and b'"fee": 92233720368.54775807' in quote.content

    beyond = "922337203685"
    for field in ("fixed_amount", "minimum_fee", "maximum_fee", "minimum_payout_amount"):
        response = send(
            admin_api_on,
            "post",
            f"/api/v1/fee-profiles/{profile.pk}/rules",
            {**rule, "currency": "USDT_ERC20", field: beyond},
        )
        error = assert_error(response, 400)
        camel = field.split("_")[0] + "".join(w.capitalize() for w in field.split("_")[1:])
        assert camel in error["details"], (field, error)
    quote = send(
        admin_api_on,
        "post",
        f"/api/v1/fee-profiles/{profile.pk}/quote",
        {"operation": "payout", "currency": "USDT_TRC20", "amount": beyond},
    )
    assert "amount" in assert_error(quote, 400)["details"]
    assert FeeRule.objects.count() == 1


@pytest.fixture
def usdt_world(on_database):
    """A USDT balance at the largest amount, priced at exactly one unit per payout."""
    profile = fee_actions.fee_profile_create(
        name="One unit",
        actor=SYSTEM,
        rules=[
            {
                "operation": "payout",
                "currency": "USDT_TRC20",
                "fixed_amount": "0.00000001",
                "minimum_payout_amount": "0.00000001",
            }
        ],
    )
    service = ServiceFactory(fee_profile=profile)
    balance = BalanceFactory(service=service, currency="USDT_TRC20", available=MAX)
    return service, balance


@BOTH
def test_holds_fees_and_payouts_are_exact_at_the_bound(usdt_world, alias):
    service, balance = usdt_world
    unit = D("0.00000001")

    payout, _ = payout_actions.payout_create(
        service=service,
        currency="USDT_TRC20",
        amount=str(MAX - unit),
        destination="wallet",
        actor=SYSTEM,
    )

    assert (payout.amount, payout.fee, payout.total) == (MAX - unit, unit, MAX)
    # Written where the test says: the alias named explicitly has the row.
    assert Payout.objects.using(alias).get(pk=payout.pk).total == MAX
    balance.refresh_from_db()
    assert (balance.held, balance.available_for_payout) == (MAX, D(0))
    with pytest.raises(Unprocessable) as refused:
        payout_actions.payout_create(
            service=service, currency="USDT_TRC20", amount=text(unit), destination="w", actor=SYSTEM
        )
    assert refused.value.code == "insufficient_funds"

    payout = payout_actions.payout_process(payout=payout, actor=SYSTEM)
    payout_actions.payout_pay(payout=payout, actor=SYSTEM)

    balance.refresh_from_db()
    assert (balance.available, balance.held) == (D(0), D(0))
    change = BalanceChange.objects.get(kind="payout")
    assert (change.old_available, change.new_available) == (MAX, D(0))


@BOTH
def test_a_canceled_payout_releases_exactly_what_it_held(usdt_world):
    service, balance = usdt_world
    payout, _ = payout_actions.payout_create(
        service=service,
        currency="USDT_TRC20",
        amount="12345678901.12345678",
        destination="wallet",
        actor=SYSTEM,
    )
    balance.refresh_from_db()
    assert balance.held == D("12345678901.12345679")

    payout_actions.payout_cancel(payout=payout, actor=SYSTEM)

    balance.refresh_from_db()
    assert (balance.available, balance.held) == (MAX, D(0))


@BOTH
def test_a_hold_beyond_storage_is_refused_before_the_database_computes_it(usdt_world):
    _, balance = usdt_world
    Balance.objects.filter(pk=balance.pk).update(held=MAX)
    balance.refresh_from_db()

    # Called inside the payout's transaction in production; its own one here.
    with pytest.raises(Unprocessable) as refused, transaction.atomic():
        balance_hold_for_payout(balance=balance, amount=D("0.00000001"))

    assert refused.value.code == "insufficient_funds"
    assert Balance.objects.get(pk=balance.pk).held == MAX


@BOTH
def test_a_debit_beyond_storage_is_refused_not_a_500(usdt_world):
    service, balance = usdt_world
    payout, _ = payout_actions.payout_create(
        service=service, currency="USDT_TRC20", amount="1", destination="w", actor=SYSTEM
    )
    # A provider that reported the lowest figure storage keeps while the payout was open.
    Balance.objects.filter(pk=balance.pk).update(available=-MAX)

    with pytest.raises(Unprocessable) as refused, transaction.atomic():
        balance_debit_for_payout(
            service=service,
            currency="USDT_TRC20",
            amount=payout.total,
            payout_public_id=payout.public_id,
        )

    assert refused.value.code == "amount_out_of_range" and refused.value.field == "amount"
    balance.refresh_from_db()
    assert (balance.available, balance.held) == (-MAX, D("1.00000001"))


@BOTH
def test_zero_amounts_are_written_with_the_currency_digits(on_database, operator_api_on):
    service = ServiceFactory()
    for code in ("USDT_TRC20", "EUR", "JPY"):
        assert (
            send(
                operator_api_on, "post", balances_url(service), {"currency": code, "amount": "0"}
            ).status_code
            == 201
        )

    listed = operator_api_on.get(balances_url(service)).content.decode()
    history = operator_api_on.get(f"{balances_url(service)}/USDT_TRC20/history").content.decode()
    stale = send(
        operator_api_on,
        "patch",
        f"{balances_url(service)}/USDT_TRC20",
        {"amount": "1", "reason": "x"},
        HTTP_IF_MATCH='"99"',
    )

    assert "E-" not in listed and "E-" not in history
    assert '"currency": "USDT_TRC20", "amount": 0.00000000,' in listed
    assert '"currency": "EUR", "amount": 0.00,' in listed
    assert '"currency": "JPY", "amount": 0,' in listed
    assert "0.00000000" in history
    assert assert_error(stale, 412)["details"]["currentAmount"] == 0
    assert b'"currentAmount": 0.00000000' in stale.content


# --- the migration to integer units ---------------------------------------------------------

BEFORE = [
    ("balances", "0002_balance_held"),
    ("services", "0005_connection_kind_from_registry"),
    ("payouts", "0003_balance_held_from_open_payouts"),
]


def _migrate_to_latest(connection) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def _old_rows(apps, alias: str, figures: dict[str, Decimal]):
    OldService = apps.get_model("services", "Service")
    service = OldService.objects.using(alias).create(
        public_id="srv_migration", name="Old", country="DE"
    )
    balance = (
        apps.get_model("balances", "Balance")
        .objects.using(alias)
        .create(
            service_id=service.pk,
            currency="USDT_TRC20",
            held=figures["held"],
            **{name: figures[name] for name in ("available", "pending", "reserved")},
        )
    )
    apps.get_model("balances", "BalanceChange").objects.using(alias).create(
        service_id=service.pk,
        balance_id=balance.pk,
        currency="USDT_TRC20",
        kind="created",
        actor_type="system",
        actor_label="old",
        new_available=figures["available"],
        new_pending=D("0"),
    )
    profile = apps.get_model("services", "FeeProfile").objects.using(alias).create(name="Old")
    apps.get_model("services", "FeeRule").objects.using(alias).create(
        profile_id=profile.pk,
        operation="payout",
        currency="USDT_TRC20",
        fixed_amount=D("0.00000001"),
        minimum_fee=D("0.5"),
        maximum_fee=figures["available"],
    )
    apps.get_model("payouts", "Payout").objects.using(alias).create(
        public_id="po_migration",
        service_id=service.pk,
        currency="USDT_TRC20",
        amount=figures["held"] - D("0.00000001"),
        fee=D("0.00000001"),
        destination="d",
    )
    return balance.pk


@pytest.mark.django_db(transaction=True, databases=ALIASES)
def test_the_migration_keeps_every_amount_exactly_and_refuses_what_storage_cannot_keep(alias):
    # SQLite's old NUMERIC columns kept 15 significant digits: what they held is what moves.
    available = D("12345678901.12345678") if alias == "default" else D("1234567.12345678")
    figures = {
        "available": available,
        "pending": D("-0.00000001"),
        "reserved": D("0"),
        "held": D("12.5"),
    }
    connection = connections[alias]
    executor = MigrationExecutor(connection)
    try:
        executor.migrate(BEFORE)
        apps = executor.loader.project_state(BEFORE).apps
        pk = _old_rows(apps, alias, figures)
        # What the old columns accepted and storage cannot keep (on SQLite already a REAL).
        OldBalance = apps.get_model("balances", "Balance")
        beyond = OldBalance.objects.using(alias).create(
            service_id=OldBalance.objects.using(alias).get(pk=pk).service_id,
            currency="EUR",
            available=D("99999999999999999999"),
        )

        with pytest.raises(AmountsBeyondStorage, match=rf"row {beyond.pk} available="):
            MigrationExecutor(connection).migrate([("balances", "0003_amounts_in_units")])

        # Nothing was converted; once the row is corrected the migration goes through.
        OldBalance.objects.using(alias).filter(pk=beyond.pk).update(available=D("-1.5"))
        _migrate_to_latest(connection)
    finally:
        _migrate_to_latest(connection)

    balance = Balance.objects.using(alias).get(pk=pk)
    assert {name: getattr(balance, name) for name in figures} == figures
    assert units_in_column(alias, Balance, pk, "available") == to_units(available)
    assert Balance.objects.using(alias).get(pk=beyond.pk).available == D("-1.5")
    change = BalanceChange.objects.using(alias).get(balance_id=pk)
    assert (change.old_available, change.new_available, change.new_pending) == (
        None,
        available,
        D(0),
    )
    rule = FeeRule.objects.using(alias).get()
    assert (rule.fixed_amount, rule.minimum_fee, rule.maximum_fee) == (
        D("0.00000001"),
        D("0.5"),
        available,
    )
    assert rule.minimum_payout_amount is None
    payout = Payout.objects.using(alias).get()
    assert (payout.amount, payout.fee) == (D("12.49999999"), D("0.00000001"))
    # The constraints are still there, comparing integers.
    with pytest.raises(IntegrityError), transaction.atomic(using=alias):
        Balance.objects.using(alias).filter(pk=pk).update(held=D("-0.00000001"))
    with pytest.raises(IntegrityError), transaction.atomic(using=alias):
        FeeRule.objects.using(alias).update(maximum_fee=D("0.49999999"))
    with pytest.raises(IntegrityError), transaction.atomic(using=alias):
        Payout.objects.using(alias).update(amount=D("0"))
