"""The linkage record format: what residents, households, seals and tax records look like on the wire.

Defined once here; registry_sim writes it (snapshot, import files) and the replica loader reads it.
A stream is JSON Lines, one object a line, each ``{"t": <type>, ...fields}``:

    {"t": "header", "format": "konbini-linkage/2", "seq": 1234, "generated_at": "...Z"}
    {"t": "household", ...HOUSEHOLD_FIELDS}
    {"t": "resident", ...RESIDENT_FIELDS}
    {"t": "seal", ...SEAL_FIELDS}
    {"t": "tax", ...TAX_FIELDS}
    {"t": "end", "counts": {"resident": n, "household": n, "seal": n, "tax": n}}

A snapshot always has the header first and the ``end`` line last; a stream without its ``end`` line, or
whose counts differ, is incomplete and must not be applied. An import file may omit header and end.
Dates are ISO ``YYYY-MM-DD``; absent values are ``null``; text is Unicode (外字 beyond the BMP included).

Version 2 gave tax records what the certificates print (収入 and 所得 per kind, each 所得控除, the 扶養 counts,
each 税額控除, 森林環境税, the 徴収方法 and the 期別 instalments). A ``konbini-linkage/1`` stream is refused
(:func:`format_problem`): its tax records lack those items, and a certificate must not print guesses.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any, Final, NamedTuple

import orjson

FORMAT: Final = "konbini-linkage/2"
FORMAT_V1: Final = "konbini-linkage/1"

RECORD_TYPES: Final = ("household", "resident", "seal", "tax")

# name -> (SQL type, meaning). Order is the column order of the replica tables.
HOUSEHOLD_FIELDS: Final[dict[str, tuple[str, str]]] = {
    "household_no": ("TEXT", "世帯番号"),
    "head_atena_no": ("TEXT", "世帯主の宛名番号"),
    "address": ("TEXT", "住所 (town name and number)"),
    "katagaki": ("TEXT", "方書 (building, room), or null"),
    "version": ("INTEGER", "record version, increases on each change"),
}

RESIDENT_FIELDS: Final[dict[str, tuple[str, str]]] = {
    "atena_no": ("TEXT", "宛名番号, the internal person id (10 digits)"),
    "household_no": ("TEXT", "世帯番号"),
    "kojin_bango": ("TEXT", "個人番号, 12 digits with the legal check digit"),
    "juminhyo_code": ("TEXT", "住民票コード, 11 digits"),
    "kind": ("TEXT", "'japanese' or 'foreign'"),
    "status": ("TEXT", "'resident' or 'removed'"),
    "removal_reason": ("TEXT", "'moved_out' (転出) or 'died' (死亡) when removed"),
    "removal_date": ("TEXT", "date of removal"),
    "name": ("TEXT", "氏名 (family and given name separated by a full-width space)"),
    "name_kana": ("TEXT", "ふりがな"),
    "name_alpha": ("TEXT", "アルファベット氏名 (foreign residents)"),
    "tsusho": ("TEXT", "通称 (foreign residents), or null"),
    "kyuuji": ("TEXT", "旧氏, or null"),
    "birth_date": ("TEXT", "生年月日"),
    "sex": ("TEXT", "'M' or 'F'"),
    "address": ("TEXT", "住所"),
    "katagaki": ("TEXT", "方書"),
    "relationship": ("TEXT", "続柄 (世帯主, 妻, 子, ...)"),
    "householder_name": ("TEXT", "世帯主の氏名"),
    "honseki": ("TEXT", "本籍 (Japanese nationals)"),
    "hittousha": ("TEXT", "筆頭者 (Japanese nationals)"),
    "zairyu_card_no": ("TEXT", "在留カード等番号"),
    "art30_45_class": ("TEXT", "第30条45規定区分 (中長期在留者, 特別永住者, ...)"),
    "zairyu_status": ("TEXT", "在留資格"),
    "zairyu_period": ("TEXT", "在留期間 (e.g. '3年')"),
    "zairyu_expiry": ("TEXT", "在留期間の満了日"),
    "nationality": ("TEXT", "国籍・地域"),
    "became_resident_on": ("TEXT", "住民となった日"),
    "address_set_on": ("TEXT", "住所を定めた日"),
    "previous_address": ("TEXT", "前住所"),
    "moveout_planned_date": ("TEXT", "転出予定日, or null"),
    "moveout_planned_address": ("TEXT", "転出予定先, or null"),
    "in_transition": ("INTEGER", "異動中 / 仮更新 flag (0 or 1)"),
    "support_measure": ("INTEGER", "支援措置 flag (0 or 1)"),
    "version": ("INTEGER", "record version"),
    "updated_at": ("TEXT", "when the record last changed (ISO timestamp)"),
}

SEAL_FIELDS: Final[dict[str, tuple[str, str]]] = {
    "seal_no": ("TEXT", "印鑑登録番号"),
    "owner_atena_no": ("TEXT", "宛名番号 of the owner"),
    "impression": ("TEXT", "the characters carved in the seal (rendered as the seal image)"),
    "registered_on": ("TEXT", "登録日"),
    "status": ("TEXT", "'active' or 'abolished' (廃止)"),
    "version": ("INTEGER", "record version"),
}

TAX_FIELDS: Final[dict[str, tuple[str, str]]] = {
    "owner_atena_no": ("TEXT", "宛名番号 of the taxpayer"),
    "fiscal_year": ("INTEGER", "年度 (Gregorian year the assessment is for)"),
    # 収入金額 and 所得金額 per kind of income (the year before the fiscal year), yen
    "salary_revenue": ("INTEGER", "給与収入"),
    "salary_income": ("INTEGER", "給与所得 (after 給与所得控除)"),
    "pension_revenue": ("INTEGER", "公的年金等収入"),
    "pension_income": ("INTEGER", "公的年金等に係る雑所得 (after 公的年金等控除)"),
    "business_revenue": ("INTEGER", "営業等収入"),
    "business_income": ("INTEGER", "営業等所得 (事業所得)"),
    "other_revenue": ("INTEGER", "その他の収入 (不動産, 雑 (業務・その他), ...)"),
    "other_income": ("INTEGER", "その他の所得"),
    "total_income": ("INTEGER", "総所得金額等 (合計所得金額)"),
    # 所得控除, yen
    "social_insurance_deduction": ("INTEGER", "社会保険料控除"),
    "life_insurance_deduction": ("INTEGER", "生命保険料控除"),
    "earthquake_insurance_deduction": ("INTEGER", "地震保険料控除"),
    "medical_deduction": ("INTEGER", "医療費控除"),
    "spouse_deduction": ("INTEGER", "配偶者控除・配偶者特別控除"),
    "dependant_deduction": ("INTEGER", "扶養控除"),
    "basic_deduction": ("INTEGER", "基礎控除"),
    "other_deductions": (
        "INTEGER",
        "その他の所得控除 (障害者, 寡婦, ひとり親, 勤労学生, 雑損, 小規模企業共済等)",
    ),
    "deductions": ("INTEGER", "所得控除の合計"),
    # 扶養 (persons)
    "spouse": ("INTEGER", "控除対象配偶者 (0 or 1)"),
    "dependants_general": ("INTEGER", "一般扶養親族の数"),
    "dependants_specified": ("INTEGER", "特定扶養親族の数 (19-22)"),
    "dependants_elderly": ("INTEGER", "老人扶養親族の数 (70+)"),
    "dependants_young": ("INTEGER", "年少扶養親族の数 (under 16: no deduction, counted)"),
    "taxable_income": ("INTEGER", "課税標準額, yen"),
    # 税額控除 (市民税 and 県民税 together), yen
    "adjustment_credit": ("INTEGER", "調整控除"),
    "housing_loan_credit": ("INTEGER", "住宅借入金等特別税額控除"),
    "donation_credit": ("INTEGER", "寄附金税額控除"),
    "other_credits": ("INTEGER", "その他の税額控除 (配当控除, 外国税額控除, ...)"),
    # 税額, yen
    "municipal_income_levy": ("INTEGER", "市民税 所得割 (after the credits)"),
    "municipal_per_capita": ("INTEGER", "市民税 均等割"),
    "prefectural_income_levy": ("INTEGER", "県民税 所得割 (after the credits)"),
    "prefectural_per_capita": ("INTEGER", "県民税 均等割"),
    "forest_env_tax": ("INTEGER", "森林環境税 (国税, levied with 均等割 from fiscal 2024)"),
    "collection": ("TEXT", "徴収方法: 'ordinary' (普通徴収), 'special' (特別徴収), 'both'"),
    "instalments": ("TEXT", "期別: JSON array of [period, due, amount, paid] (see INSTALMENTS)"),
    "no_return_filed": ("INTEGER", "未申告 flag (0 or 1)"),
    "not_resident_jan1": ("INTEGER", "1月1日に住所がなかった flag (0 or 1)"),
    "version": ("INTEGER", "record version"),
}

INSTALMENTS: Final = """A tax record's ``instalments``: a JSON array (compact, as text) of ``[period, due, amount, paid]``:
``period`` 1, 2, ... for the 普通徴収 期別 (第1期, ...), 0 for the year's 特別徴収 (withheld by the employer or
the pension payer); ``due`` the 納期限 (YYYY-MM-DD; null for period 0); ``amount`` the yen due; ``paid`` the
yen paid, or null when the city cannot know it (特別徴収). The amounts add up to the year's tax (the four
levies and 森林環境税). ``[]`` when nothing is due."""

FIELDS_BY_TYPE: Final[dict[str, dict[str, tuple[str, str]]]] = {
    "household": HOUSEHOLD_FIELDS,
    "resident": RESIDENT_FIELDS,
    "seal": SEAL_FIELDS,
    "tax": TAX_FIELDS,
}

# Primary key columns of each record type in the replica.
KEYS_BY_TYPE: Final[dict[str, tuple[str, ...]]] = {
    "household": ("household_no",),
    "resident": ("atena_no",),
    "seal": ("seal_no",),
    "tax": ("owner_atena_no", "fiscal_year"),
}


# The compact ("rows") encoding of the same records, for the snapshot and the change feed when the reader
# asks for it (``?encoding=rows``): a record is the JSON array ``[type, value, ...]`` with its type's values
# in the field order above, instead of an object naming each field. Same records, same rules; about a
# quarter of the bytes, and a reader gets each row ready to bind without looking up 45 names a record.
ROWS: Final = "rows"
ROW_FIELDS: Final[dict[str, list[str]]] = {t: list(fields) for t, fields in FIELDS_BY_TYPE.items()}
_ROW_GETTERS: Final = {t: operator.itemgetter(*fields) for t, fields in FIELDS_BY_TYPE.items()}


def encode_row(record: dict[str, Any]) -> bytes:
    """A (whole, checked) record in the rows encoding: ``["type", value, ...]`` in field order."""
    rtype = record["t"]
    return orjson.dumps((rtype, *_ROW_GETTERS[rtype](record)))


def row_record(row: Sequence[Any]) -> dict[str, Any]:
    """The object form of a row ``[type, value, ...]`` (``LinkageError`` if it is not one)."""
    if not isinstance(row, list | tuple) or not row or row[0] not in ROW_FIELDS:
        raise LinkageError("a row must be [type, value, ...] with a known type")
    names = ROW_FIELDS[row[0]]
    if len(row) != len(names) + 1:
        raise LinkageError(f"{row[0]} row has {len(row) - 1} values, not the {len(names)} fields of its type")
    return {"t": row[0], **dict(zip(names, row[1:], strict=True))}


class LinkageError(ValueError):
    """A record that does not follow this format."""


def check_record(record: dict[str, object]) -> str:
    """Return the record's type after checking it names a known type and carries every field."""
    rtype = record.get("t")
    if rtype not in FIELDS_BY_TYPE:
        raise LinkageError(f"unknown record type {rtype!r}")
    missing = [f for f in FIELDS_BY_TYPE[str(rtype)] if f not in record]
    if missing:
        raise LinkageError(f"{rtype} record lacks field(s): {', '.join(missing)}")
    return str(rtype)


_PY_TYPES: Final = {"TEXT": str, "INTEGER": int}
_ENUMS: Final[dict[tuple[str, str], tuple[str, ...]]] = {
    ("resident", "kind"): ("japanese", "foreign"),
    ("resident", "status"): ("resident", "removed"),
    ("resident", "removal_reason"): ("moved_out", "died"),
    ("resident", "sex"): ("M", "F"),
    ("seal", "status"): ("active", "abolished"),
    ("tax", "collection"): ("ordinary", "special", "both"),
}
_FLAGS: Final = {"in_transition", "support_measure", "no_return_filed", "not_resident_jan1", "spouse"}
_DATES: Final = {
    "removal_date", "birth_date", "zairyu_expiry", "became_resident_on", "address_set_on",
    "moveout_planned_date", "registered_on",
}  # fmt: skip
_DIGITS: Final = {
    "atena_no": 10,
    "household_no": 10,
    "head_atena_no": 10,
    "owner_atena_no": 10,
    "juminhyo_code": 11,
}


def record_problem(record: dict[str, object], rtype: str) -> str | None:
    """Why a record (of a known type, with every field) breaks this format, or None. One rule set for
    import files and the change feed: no unknown fields; value types; ``null``, never ``""``, for an
    absent value; the enumerations; ISO dates; identifiers' digits (個人番号 with its check digit);
    0/1 flags; versions from 1."""
    fields = FIELDS_BY_TYPE[rtype]
    if len(record) != len(fields) + ("t" in record):
        unknown = [k for k in record if k != "t" and k not in fields]
        if unknown:
            return f"{rtype} record has unknown field(s): {', '.join(unknown)}"
    return row_problem(rtype, [record[name] for name in fields])


def row_problem(rtype: str, row: Sequence[object]) -> str | None:
    """Why the values of a record, in its type's field order (the ``rows`` encoding), break this format's
    rules (:func:`record_problem`), or None. The change feed checks every record it applies (tens of
    thousands a second while catching up), so a row is first tried the quick way: its value types looked
    up among the combinations already found to pass, then only the fields with value rules. Any doubt goes
    to :func:`_row_problem_by_field`, which applies every rule field by field and names the first broken."""
    if len(row) != len(_CHECKS[rtype]):
        return _row_problem_by_field(rtype, row)
    passing = _PASSING_TYPES[rtype]
    types = tuple(map(type, row))
    if types not in passing:
        problem = _row_problem_by_field(rtype, row)
        if problem or len(passing) >= _PASSING_TYPES_KEPT:
            return problem
        passing.add(types)
        return None
    if "" in row:  # only text and integers and null are left: no other value equals ""
        return _row_problem_by_field(rtype, row)
    for i, rules in _RULED_FIELDS[rtype]:
        value = row[i]
        if value is not None:
            for rule in rules:
                if not rule.holds(value):
                    return _row_problem_by_field(rtype, row)
    if rtype == "tax":
        return _tax_problem(row)
    return None


def _row_problem_by_field(rtype: str, row: Sequence[object]) -> str | None:
    checks = _CHECKS[rtype]
    if len(row) != len(checks):
        return f"{rtype} record has {len(row)} values, not the {len(checks)} fields of its type"
    for (name, expected, not_null, value_rules), value in zip(checks, row):  # noqa: B905 (lengths checked)
        if value is None:
            if not_null:
                return f"{rtype} record: field {name} is null"
            continue
        if value.__class__ is not expected and (not isinstance(value, expected) or isinstance(value, bool)):
            return f"{rtype} record: field {name} must be {'text' if expected is str else 'an integer'}"
        if value == "":
            return f"{rtype} record: field {name} is empty (an absent value is null)"
        for rule in value_rules:
            if not rule.holds(value):
                return f"{rtype} record: field {name} {rule.says(value)}"
    if rtype == "tax":
        return _tax_problem(row)
    return None


def format_problem(fmt: object) -> str | None:
    """Why a stream whose header names ``fmt`` cannot be read, or None for this format."""
    if fmt == FORMAT:
        return None
    if fmt == FORMAT_V1:
        return (
            f"the stream is {FORMAT_V1}, which this server no longer reads: its tax records lack the items"
            f" the certificates print (収入 per kind, 所得控除, 扶養, 税額控除, 森林環境税, 期別); export it again"
            f" as {FORMAT} (docs/linkage-format.md)"
        )
    return f"unsupported format {fmt!r} (expected {FORMAT})"


Instalment = tuple[int, str | None, int, int | None]  # period, due, amount, paid (None: not known)


def parse_instalments(text: str | None) -> list[Instalment]:
    """The ``instalments`` of a tax record (see :data:`INSTALMENTS`); ``ValueError`` says what is wrong."""
    if text is None:
        return []
    if text == "[]":
        return []
    try:
        items = orjson.loads(text)
    except ValueError:
        raise ValueError("is not a JSON array") from None
    if not isinstance(items, list):
        raise ValueError("is not a JSON array")
    out: list[Instalment] = []
    for n, item in enumerate(items, 1):
        if not (isinstance(item, list) and len(item) == 4):
            raise ValueError(f"entry {n} is not [period, due, amount, paid]")
        period, due, amount, paid = item
        if not _count(period):
            raise ValueError(f"entry {n}: period must be 0 (特別徴収) or a 期 number")
        if (due is None) != (period == 0) or (due is not None and not _is_date(due)):
            raise ValueError(f"entry {n}: due must be a date YYYY-MM-DD (null only for period 0)")
        if not _count(amount) or not (paid is None or (_count(paid) and paid <= amount)):
            raise ValueError(f"entry {n}: amount and paid must be yen, paid at most amount (or null)")
        if (paid is None) != (period == 0):
            raise ValueError(f"entry {n}: paid is null for period 0 (特別徴収) only")
        out.append((period, due, amount, paid))
    periods = [i[0] for i in out if i[0]]
    if len(set(periods)) != len(periods) or sum(1 for i in out if i[0] == 0) > 1:
        raise ValueError("a period appears twice")
    return out


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@functools.lru_cache(maxsize=1 << 16)  # dates repeat (birth dates, 納期限): check each text once
def _is_date(value: object) -> bool:
    try:
        return isinstance(value, str) and len(value) == 10 and date.fromisoformat(value).isoformat() == value
    except ValueError:
        return False


_TAX_LEVIES: Final = (
    "municipal_income_levy", "municipal_per_capita", "prefectural_income_levy", "prefectural_per_capita",
    "forest_env_tax",
)  # fmt: skip


def tax_due(record: dict[str, object]) -> int:
    """The year's tax of a tax record: the four levies and 森林環境税, yen."""
    return sum(int(record[k] or 0) for k in _TAX_LEVIES)  # type: ignore[call-overload]


_TAX_NAMES: Final = tuple(TAX_FIELDS)
_TAX_INTS: Final = tuple(i for i, (t, _) in enumerate(TAX_FIELDS.values()) if t == "INTEGER")
_TAX_LEVY_IDX: Final = tuple(_TAX_NAMES.index(k) for k in _TAX_LEVIES)
_TAX_INSTALMENTS: Final = _TAX_NAMES.index("instalments")
_TAX_COLLECTION: Final = _TAX_NAMES.index("collection")
_COLLECTION_KINDS: Final = {"ordinary": {False}, "special": {True}, "both": {True, False}}


def _tax_problem(row: Sequence[object]) -> str | None:
    negative = [_TAX_NAMES[i] for i in _TAX_INTS if isinstance(row[i], int) and int(row[i]) < 0]  # type: ignore[call-overload]
    if negative:
        return f"tax record: field {negative[0]} must be 0 or more"
    try:
        instalments = parse_instalments(row[_TAX_INSTALMENTS])  # type: ignore[arg-type]
    except ValueError as exc:
        return f"tax record: field instalments {exc}"
    due = sum(int(row[i] or 0) for i in _TAX_LEVY_IDX)  # type: ignore[call-overload]
    if instalments and sum(i[2] for i in instalments) != due:
        return f"tax record: the instalments add up to {sum(i[2] for i in instalments)}, not the year's tax {due}"
    special = {i[0] == 0 for i in instalments}
    collection = row[_TAX_COLLECTION]
    expected = _COLLECTION_KINDS.get(str(collection))
    if instalments and collection is not None and special != expected:
        return f"tax record: the instalments do not match collection {collection!r}"
    return None


class ValueRule(NamedTuple):
    """A rule on a value beyond its type and emptiness: ``holds`` (fast: most are C methods) and, for a
    value that breaks it, what it must be ("must be ...")."""

    holds: Callable[[Any], object]
    says: Callable[[Any], str]


def _one_of(allowed: tuple[str, ...]) -> ValueRule:
    return ValueRule(
        frozenset(allowed).__contains__, lambda v: f"must be one of {', '.join(allowed)}, not {v!r}"
    )


_FLAG: Final = ValueRule(frozenset((0, 1)).__contains__, lambda v: f"must be 0 or 1, not {v!r}")
_VERSION: Final = ValueRule((1).__le__, lambda v: f"must be 1 or more, not {v}")
_DATE: Final = ValueRule(_is_date, lambda v: f"must be a date YYYY-MM-DD, not {v!r}")
_KOJIN_BANGO: Final = ValueRule(
    lambda v: is_valid_kojin_bango(v), lambda v: "is not a 個人番号 (12 digits with the check digit)"
)


def _digits(n: int) -> ValueRule:
    return ValueRule(
        lambda v: len(v) == n and v.isascii() and v.isdigit(), lambda v: f"must be {n} digits, not {v!r}"
    )


def _value_rules(rtype: str, name: str) -> tuple[ValueRule, ...]:
    rules: list[ValueRule] = []
    allowed = _ENUMS.get((rtype, name))
    if allowed is not None:
        rules.append(_one_of(allowed))
    if name in _FLAGS:
        rules.append(_FLAG)
    if name == "version":
        rules.append(_VERSION)
    if name in _DATES:
        rules.append(_DATE)
    if name in _DIGITS:
        rules.append(_digits(_DIGITS[name]))
    if name == "kojin_bango":
        rules.append(_KOJIN_BANGO)
    return tuple(rules)


# rtype -> per field: (name, Python type, null refused (keys and version), value checks)
_CHECKS: Final[dict[str, tuple[tuple[str, type, bool, tuple[ValueRule, ...]], ...]]] = {
    rtype: tuple(
        (
            name,
            _PY_TYPES[sql_type],
            name in KEYS_BY_TYPE[rtype] or name == "version",
            _value_rules(rtype, name),
        )
        for name, (sql_type, _) in fields.items()
    )
    for rtype, fields in FIELDS_BY_TYPE.items()
}


# For row_problem's quick way: per type, the fields with value rules (index, rules), and the combinations
# of value types (null's included) seen to pass the type and null rules; at most so many are kept, so odd
# input cannot grow the set without bound (beyond it rows take the field-by-field way).
_RULED_FIELDS: Final = {
    rtype: tuple((i, rules) for i, (_, _, _, rules) in enumerate(checks) if rules)
    for rtype, checks in _CHECKS.items()
}
_PASSING_TYPES: Final[dict[str, set[tuple[type, ...]]]] = {rtype: set() for rtype in _CHECKS}
_PASSING_TYPES_KEPT: Final = 512

_KOJIN_WEIGHTS: Final = (6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)  # of digits 1-11, from 番号法施行令 第8条
_KOJIN_ASCII_EXCESS: Final = ord("0") * sum(_KOJIN_WEIGHTS)


def kojin_bango_check_digit(first11: str) -> int:
    """The 個人番号 check digit (行政手続における特定の個人を識別するための番号の利用等に関する法律施行令 第8条)."""
    if len(first11) != 11 or not first11.isdigit():
        raise ValueError("need the first 11 digits")
    total = 0
    for n in range(1, 12):
        p = int(first11[11 - n])
        q = n + 1 if n <= 6 else n - 5
        total += p * q
    r = total % 11
    return 0 if r <= 1 else 11 - r


def is_valid_kojin_bango(number: str) -> bool:
    """:func:`kojin_bango_check_digit` with its weights laid out (this runs for every resident checked)."""
    if len(number) != 12 or not number.isascii() or not number.isdigit():
        return False
    digits = number.encode()  # a digit's byte is ord("0") more than the digit: the sum less what those add
    r = (sum(map(operator.mul, digits, _KOJIN_WEIGHTS)) - _KOJIN_ASCII_EXCESS) % 11
    return (0 if r <= 1 else 11 - r) == digits[11] - 48
