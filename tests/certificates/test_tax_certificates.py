"""Issue 12, point 3 and 5: what each tax certificate prints (read back with pdftotext), and that the titles
and sentences come from the templates."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from issuance_server.certificates.document import RenderedCertificate
from issuance_server.certificates.render import CertificateRequest
from tests.certificates.conftest import pdftotext, request, tax_record

RenderReq = Callable[[CertificateRequest], RenderedCertificate]

PENSIONER: dict[str, Any] = {
    "salary_revenue": 0, "salary_income": 0, "business_revenue": 0, "business_income": 0,
    "other_revenue": 0, "other_income": 0, "pension_revenue": 2_400_000, "pension_income": 1_300_000,
    "total_income": 1_300_000, "social_insurance_deduction": 120_000, "life_insurance_deduction": 0,
    "earthquake_insurance_deduction": 0, "medical_deduction": 0, "spouse_deduction": 0,
    "dependant_deduction": 380_000, "basic_deduction": 430_000, "other_deductions": 0, "deductions": 930_000,
    "spouse": 0, "dependants_specified": 0, "dependants_young": 0, "dependants_elderly": 1,
    "taxable_income": 370_000, "adjustment_credit": 7_500, "donation_credit": 0, "housing_loan_credit": 0,
    "municipal_income_levy": 17_700, "prefectural_income_levy": 11_800, "collection": "special",
    "instalments": "[[0,null,35000,null]]",
}  # fmt: skip
NON_TAXED: dict[str, Any] = {
    **PENSIONER, "pension_revenue": 1_400_000, "pension_income": 300_000, "total_income": 300_000,
    "deductions": 430_000, "dependant_deduction": 0, "dependants_elderly": 0, "social_insurance_deduction": 0,
    "taxable_income": 0, "adjustment_credit": 0, "municipal_income_levy": 0, "municipal_per_capita": 0,
    "prefectural_income_levy": 0, "prefectural_per_capita": 0, "forest_env_tax": 0, "collection": None,
    "instalments": "[]",
}  # fmt: skip
ORDINARY = json.dumps(
    [[1, "2026-06-30", 56000, 56000], [2, "2026-08-31", 56000, 56000], [3, "2026-11-02", 56000, 20000],
     [4, "2027-02-01", 55000, 0]]
)  # fmt: skip


def text_of(render_req: RenderReq, tmp_path: Path, kind: str, **tax: Any) -> str:
    path = tmp_path / f"{kind}.pdf"
    path.write_bytes(render_req(request(kind, tax=tax_record(**tax))).pdf)
    return pdftotext(path, "-raw")


@pytest.mark.parametrize("kind", ["tax_income", "tax_income_assessment"])
def test_income_kinds_print_revenue_and_income_per_kind_deductions_and_dependants(
    kind: str, render_req: RenderReq, tmp_path: Path
) -> None:
    text = text_of(render_req, tmp_path, kind)
    for line in (
        "所得の種類 収入金額 所得金額",
        "給与 6,200,000円 4,520,000円",
        "公的年金等 0円 0円",
        "営業等 400,000円 120,000円",
        "その他 60,000円 35,000円",
        "合計所得金額 4,675,000円",
        "社会保険料控除 930,000円",
        "生命保険料控除 56,000円",
        "地震保険料控除 25,000円",
        "医療費控除 24,000円",
        "配偶者（特別）控除 330,000円",
        "扶養控除 450,000円",
        "基礎控除 430,000円",
        "所得控除額の合計 2,245,000円",
        "課税標準額 2,430,000円",
        "控除対象配偶者 有 扶養親族の数 2人",
        "一般 0人 特定 1人",
        "老人 0人 年少 1人",
        "令和8年度（令和7年分）",
    ):
        assert line in text, line
    pension = text_of(render_req, tmp_path, kind, **PENSIONER)
    assert "公的年金等 2,400,000円 1,300,000円" in pension and "老人 1人 年少 0人" in pension


def test_income_and_assessment_prints_credits_levies_per_tax_and_forest_tax(
    render_req: RenderReq, tmp_path: Path
) -> None:
    text = text_of(render_req, tmp_path, "tax_income_assessment")
    for line in (
        "調整控除 7,500円",
        "住宅借入金等特別税額控除 0円",
        "寄附金税額控除 18,000円",
        "税額控除額の合計 25,500円",
        "税目 所得割 均等割 年税額",
        "市民税 130,500円 3,000円 133,500円",
        "県民税 87,000円 1,500円 88,500円",
        "森林環境税（国税） 1,000円 1,000円",
        "合計 217,500円 5,500円 223,000円",
    ):
        assert line in text, line
    assert "税額控除" not in text_of(render_req, tmp_path, "tax_income")  # 所得額証明書: income only
    assert "森林環境税" not in text_of(render_req, tmp_path, "tax_income")


def test_status_certificate_is_titled_by_whether_tax_is_levied(render_req: RenderReq, tmp_path: Path) -> None:
    taxed = text_of(render_req, tmp_path, "tax_status")
    assert taxed.splitlines()[1] == "課税額証明書" and "非課税証明書" not in taxed
    assert "市民税 130,500円 3,000円 133,500円" in taxed and "森林環境税（国税） 1,000円 1,000円" in taxed
    assert "上記のとおり証明します。" in taxed
    non_taxed = text_of(render_req, tmp_path, "tax_status", **NON_TAXED)
    assert non_taxed.splitlines()[1] == "非課税証明書" and "課税額証明書" not in non_taxed
    assert "課税区分 非課税" in non_taxed and "合計 0円 0円 0円" in non_taxed
    assert "上記の者は、令和8年度の市民税・県民税が課税されていないことを証明します。" in non_taxed


def test_payment_certificate_prints_each_instalment(render_req: RenderReq, tmp_path: Path) -> None:
    text = text_of(render_req, tmp_path, "tax_payment", collection="ordinary", instalments=ORDINARY)
    assert text.splitlines()[1] == "市・県民税納税証明書"
    for line in (
        "徴収方法 普通徴収",
        "年税額 223,000円",
        "うち森林環境税 1,000円",
        "期別 納期限 税額 納付済額 未納額",
        "第1期 令和8年6月30日 56,000円 56,000円 0円",
        "第2期 令和8年8月31日 56,000円 56,000円 0円",
        "第3期 令和8年11月2日 56,000円 20,000円 36,000円",
        "第4期 令和9年2月1日 55,000円 0円 55,000円",
        "普通徴収 計 132,000円 91,000円",
    ):
        assert line in text, line
    assert "未納の税額はありません。" not in text and "特別徴収" not in text and "＊" not in text
    assert "分の所得" not in text and "令和7年分" not in text  # no income-year subtitle on 納税証明書


def test_payment_certificate_prints_an_asterisk_where_special_collection_is_unknown(
    render_req: RenderReq, tmp_path: Path
) -> None:
    text = text_of(render_req, tmp_path, "tax_payment", **PENSIONER)
    assert "徴収方法 特別徴収" in text and "特別徴収 ― 35,000円 ＊ ＊" in text
    assert "＊ 特別徴収（給与・年金からの差し引き）の納付済額・未納額は表示していません。" in text
    assert "第1期" not in text and "未納の税額はありません。" not in text
    paid = json.dumps([[1, "2026-06-30", 223000, 223000]])
    text = text_of(render_req, tmp_path, "tax_payment", collection="ordinary", instalments=paid)
    assert "第1期 令和8年6月30日 223,000円 223,000円 0円" in text and "未納の税額はありません。" in text


def test_a_period_the_template_has_no_row_for_is_refused(render_req: RenderReq) -> None:
    five = json.dumps([[n, "2026-06-30", 1000, 1000] for n in range(1, 6)])
    with pytest.raises(ValueError, match="第5期"):
        render_req(request("tax_payment", tax=tax_record(collection="ordinary", instalments=five)))


def test_titles_and_sentences_come_from_the_templates(
    own_templates: Path, render_req: RenderReq, tmp_path: Path
) -> None:
    """Kitakyushu City names its certificate 所得額（課税・非課税）証明書: a city changes the template, not code."""
    path = own_templates / "tax_status.toml"
    source = path.read_text(encoding="utf-8")
    source = source.replace('text = "課税額証明書"', 'text = "所得額（課税・非課税）証明書"')
    source = source.replace('text = "上記のとおり証明します。"', 'text = "上記のとおり相違ありません。"')
    path.write_text(source, encoding="utf-8")
    text = text_of(render_req, tmp_path, "tax_status")
    assert text.splitlines()[1] == "所得額（課税・非課税）証明書" and "上記のとおり相違ありません。" in text
    assert "課税額証明書" not in text
