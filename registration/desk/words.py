"""What the desk says to the clerk: a Japanese message for every code (the desk's own gettext catalogue in
``registration/desk/messages/``, English as the second language), labels for the values records hold, and
dates in 和暦 and times in Japan time. Templates use these as filters (:func:`filters`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from markupsafe import Markup, escape

from wire.catalogues import fill, read_catalogue
from wire.clock import JST
from wire.http_json import HttpError
from wire.kiosk_api import KIND_NAMES_JA
from wire.name_search import is_variant
from wire.wareki import EARLIEST, format_wareki

MESSAGES: Final = "registration.desk.messages"


@dataclass(frozen=True)
class Said:
    """A message for the clerk: Japanese, the same in English, and its stable code."""

    ja: str
    en: str = ""
    code: str = ""


def say(code: str, **params: Any) -> Said:
    """The catalogue's message for ``code``; a code it lacks is shown with the English ``detail``."""
    ja = read_catalogue(MESSAGES, "ja").get(code)
    if ja is None:
        return Said(str(params.get("detail") or code), "", code)
    return Said(fill(ja, params), fill(read_catalogue(MESSAGES, "en").get(code, ""), params), code)


def said_of(exc: HttpError) -> Said:
    """What the server's refusal means to the clerk."""
    return say(exc.code, detail=exc.message)


LABELS: Final[dict[str, dict[str, str]]] = {
    "sex": {"M": "男", "F": "女", "1": "男", "2": "女"},
    "resident_status": {"resident": "住民", "removed": "消除", "moved_out": "転出"},
    "registration_status": {"active": "有効", "locked": "ロック中", "suspended": "一時停止中", "revoked": "失効"},
    "lock_reason": {"pin_failures": "コンビニでの暗証番号の誤り", "card_pin_blocked": "カードの暗証番号ロック"},
    "form": {"card": "マイナンバーカード", "android": "スマートフォン（Android）", "iphone": "スマートフォン（iPhone）"},
    "issuance_status": {"issued": "交付（未印刷）", "printed": "印刷済み", "voided": "取消・返金", "in_doubt": "印刷確認中"},
    "channel": {"kiosk": "コンビニ", "counter": "窓口"},
    "purge_status": {"requested": "承認待ち", "done": "消去済み"},
    "kind": {kind.value: name for kind, name in KIND_NAMES_JA.items()},
    "role": {
        "registrar": "利用登録", "counter": "窓口交付", "mynumber": "個人番号の表示", "auditor": "監査",
        "admin": "職員管理", "ops": "運用",
    },
}  # fmt: skip


def label(value: object, table: str) -> str:
    """The Japanese label of ``value`` (as itself when the table has none)."""
    return "" if value is None else LABELS[table].get(str(value), str(value))


def date_ja(value: object) -> Markup:
    """An ISO date as 和暦 with the Western year beside it (the ISO date kept for machines)."""
    if not value:
        return Markup("")
    try:
        day = date.fromisoformat(str(value)[:10])
    except ValueError:
        return escape(value)
    if day < EARLIEST:
        return Markup('<time datetime="{0}">{0}</time>').format(day.isoformat())
    return Markup('<time datetime="{0}">{1}（{2}年）</time>').format(
        day.isoformat(), format_wareki(day), day.year
    )


def time_ja(value: object) -> Markup:
    """A UTC timestamp as Japan time: 令和8年12月7日 06:45."""
    if not value:
        return Markup("")
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(JST)
    except ValueError:
        return escape(value)
    shown = f"{format_wareki(moment.date())} {moment:%H:%M}"
    return Markup('<time datetime="{0}">{1}</time>').format(moment.isoformat(timespec="seconds"), shown)


def variants_marked(name: object) -> Markup:
    """A name with its variant characters (𠮷, 髙) marked and named by code point, so that 𠮷田 and 吉田
    do not look the same in a list."""
    out = []
    for char in str(name or ""):
        if is_variant(char):
            out.append(
                Markup(
                    '<mark class="variant" title="異体字 U+{0:04X}">{1}<small>(U+{0:04X})</small></mark>'
                ).format(ord(char), char)
            )
        else:
            out.append(escape(char))
    return Markup("").join(out)


def said(message: Said | str) -> Markup:
    """A message as the page shows it: Japanese, then English and the code, smaller."""
    if not isinstance(message, Said):
        return escape(message)
    out = escape(message.ja)
    if message.en:
        out += Markup(' <span lang="en" class="en">{0}</span>').format(message.en)
    if message.code:
        out += Markup(' <code class="code">{0}</code>').format(message.code)
    return out


def filters() -> dict[str, Any]:
    return {
        "label": label, "date_ja": date_ja, "time_ja": time_ja, "variants": variants_marked, "said": said,
        "say": say,
    }  # fmt: skip


def has_variants(text: object) -> bool:
    return any(is_variant(c) for c in str(text or ""))
