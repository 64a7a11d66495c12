"""Render a sample of every certificate kind and layout into ``docs/samples/`` (PDF + first page as PNG).

    .venv/bin/python scripts/make_samples.py [--out docs/samples]

The people are synthetic. The QR records are signed with a *sample* Ed25519 key derived from a fixed,
published seed (so the files come out the same on every run); its public key is written beside the
samples, so that ``konbini-verify docs/samples/<file>.pdf --key docs/samples/sample-issuing-ed25519.pub``
works. One sample also carries a PAdES signature, made with a throwaway identity whose certificate is
written as ``sample-city-issuing.crt`` (that one file pair changes on every run).
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Final

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from issuance_server.certificates import pades
from issuance_server.certificates.render import CertificateRequest, render_certificate
from konbini_demo import people
from wire.cert_record import JST, public_key_pem

OUT: Final = Path(__file__).resolve().parents[1] / "docs" / "samples"
SAMPLE_SEED: Final = b"konbini sample issuing key: published, not secret"
ISSUED_AT: Final = datetime(2026, 11, 26, 10, 30, 15, tzinfo=JST)
PNG_DPI: Final = 100
PNG_COLOURS: Final = 32  # a palette keeps the pages small: the 地紋 dots defeat PNG's filters otherwise


# A 非課税 pensioner's year and a 普通徴収 payer's year (the rest as people.tax_record).
NON_TAXED: Final[dict[str, Any]] = {
    "salary_revenue": 0, "salary_income": 0, "business_revenue": 0, "business_income": 0, "other_revenue": 0,
    "other_income": 0, "pension_revenue": 1_400_000, "pension_income": 300_000, "total_income": 300_000,
    "social_insurance_deduction": 0, "life_insurance_deduction": 0, "earthquake_insurance_deduction": 0,
    "medical_deduction": 0, "spouse_deduction": 0, "dependant_deduction": 0, "deductions": 430_000,
    "spouse": 0, "dependants_specified": 0, "dependants_young": 0, "taxable_income": 0,
    "adjustment_credit": 0, "donation_credit": 0, "municipal_income_levy": 0, "municipal_per_capita": 0,
    "prefectural_income_levy": 0, "prefectural_per_capita": 0, "forest_env_tax": 0, "collection": None,
    "instalments": "[]",
}  # fmt: skip
ORDINARY: Final[dict[str, Any]] = {
    "collection": "ordinary",
    "instalments": '[[1,"2026-06-30",56000,56000],[2,"2026-08-31",56000,56000],[3,"2026-11-02",56000,56000],'
    '[4,"2027-02-01",55000,0]]',
}


def sample_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(SAMPLE_SEED).digest())


@dataclass(frozen=True)
class Sample:
    name: str
    description: str
    request: CertificateRequest
    pades: bool = False


def samples() -> list[Sample]:
    family = people.yoshida_household()
    holder = family[0]
    base = CertificateRequest(
        kind="juminhyo",
        persons=[holder],
        serial="20261126-000101",
        issued_at=ISSUED_AT,
        municipality_name="鹿児島市",
        municipality_code="462012",
        mayor_name="鹿児島県鹿児島市長　桜島　太郎",
        options=frozenset({"householder"}),
    )

    def kind(name: str, serial: int, **over: Any) -> CertificateRequest:
        return replace(base, kind=name, serial=f"20261126-{serial:06d}", options=frozenset(), **over)

    return [
        Sample(
            "juminhyo_setai",
            "住民票の写し, 世帯連記式: the householder and two chosen members (世帯の一部), 世帯主・続柄; "
            "the wife's 旧氏",
            replace(base, persons=family[:3], whole_household=False),
        ),
        Sample(
            "juminhyo_setai_9",
            "住民票の写し, 世帯連記式: a household of nine (世帯全員) on three sheets (1/3 to 3/3; PNG: sheet 1)",
            replace(base, persons=family, serial="20261126-000102"),
        ),
        Sample(
            "juminhyo_kojin",
            "住民票の写し, 個人票 of one member (世帯の一部) with 本籍・筆頭者 and 個人番号 (both asked for); "
            "also a PAdES-signed PDF",
            replace(
                base,
                layout="kojin",
                whole_household=False,
                options=frozenset({"householder", "honseki", "kojin_bango"}),
                serial="20261126-000103",
            ),
            pades=True,
        ),
        Sample(
            "juminhyo_foreign",
            "住民票の写し of a foreign resident: 国籍・地域, 第30条45規定区分, 在留資格, 在留期間, 満了日, "
            "通称, 在留カード等番号 (asked for)",
            replace(
                base,
                persons=[
                    people.resident(
                        "0000000301",
                        **people.FOREIGN_RESIDENT,
                        katagaki="城山ハイツ203号",
                        address="鹿児島市城山町5番2号",
                        honseki=None,
                    )
                ],
                options=frozenset({"householder", "zairyu_card_no"}),
                serial="20261126-000104",
            ),
        ),
        Sample(
            "juminhyo_gaiji_recovery",
            "住民票の写し, names with 外字 beyond the BMP (𠮷 U+20BB7, 𩸽 U+29E3D), issued in recovery mode "
            "(the data-as-of line)",
            replace(
                base,
                layout="kojin",
                persons=[
                    people.resident(
                        "0000000401",
                        name="𠮷野　𩸽太",
                        name_kana="よしの　ほっけた",
                        birth_date="1988-10-10",
                        relationship="世帯主",
                        householder_name="𠮷野　𩸽太",
                        address="鹿児島市𠮷野町3番4号",
                        katagaki=None,
                    )
                ],
                serial="20261126-000105",
                data_as_of=datetime(2026, 11, 26, 6, 0, tzinfo=JST),
            ),
        ),
        Sample(
            "inkan",
            "印鑑登録証明書: the registered seal (round, 𠮷田), 登録番号",
            kind("inkan", 106, seal=people.seal_record(holder["atena_no"])),
        ),
        Sample(
            "tax_income",
            "所得額証明書 (令和8年度): 収入・所得 per kind, 所得控除, 扶養, 課税標準額",
            kind("tax_income", 107, tax=people.tax_record(holder["atena_no"])),
        ),
        Sample(
            "tax_status",
            "課税額（非課税）証明書 (令和8年度), levied: 所得割・均等割 per tax, 森林環境税",
            kind("tax_status", 108, tax=people.tax_record(holder["atena_no"])),
        ),
        Sample(
            "tax_status_non_taxed",
            "課税額（非課税）証明書 (令和8年度), nothing levied: titled 非課税証明書",
            kind("tax_status", 111, tax=people.tax_record(holder["atena_no"], **NON_TAXED)),
        ),
        Sample(
            "tax_income_assessment",
            "所得額・課税額証明書 (令和8年度): income, 税額控除, levies",
            kind("tax_income_assessment", 109, tax=people.tax_record(holder["atena_no"])),
        ),
        Sample(
            "tax_payment",
            "市・県民税納税証明書 (令和8年度): 特別徴収 (＊) and four 普通徴収 期, all paid",
            kind("tax_payment", 110, tax=people.tax_record(holder["atena_no"])),
        ),
        Sample(
            "tax_payment_ordinary",
            "市・県民税納税証明書 (令和8年度): 普通徴収, the 4th 期 not yet due and unpaid",
            kind("tax_payment", 112, tax=people.tax_record(holder["atena_no"], **ORDINARY)),
        ),
    ]


def first_page_png(pdf: Path, png: Path) -> None:
    """The first page at PNG_DPI, in a small palette."""
    with tempfile.TemporaryDirectory() as tmp:
        prefix = Path(tmp) / "page"
        subprocess.run(
            [
                "pdftoppm",
                "-r",
                str(PNG_DPI),
                "-png",
                "-singlefile",
                "-f",
                "1",
                "-l",
                "1",
                str(pdf),
                str(prefix),
            ],
            check=True,
        )
        with Image.open(prefix.with_suffix(".png")) as image:
            image.convert("RGB").quantize(colors=PNG_COLOURS).save(png, optimize=True)


def write_readme(out: Path, made: Sequence[tuple[Sample, int]]) -> None:
    lines = [
        "# Certificate samples",
        "",
        "Made by `scripts/make_samples.py` with **synthetic people** (no real person). Each PDF is what a kiosk",
        "prints (A4, fonts embedded); each PNG is its first page at 100 dpi. Every sheet carries the 地紋 (a",
        "fine dot pattern that hides the word 複写 until the page is photocopied), two micro-text lines, the",
        "serial, page x/y, the 公印 and the signed QR record (level Q, 38 mm).",
        "",
        "| file | pages | what it shows |",
        "|---|---|---|",
    ]
    for sample, pages in made:
        files = f"[{sample.name}.pdf]({sample.name}.pdf), [png]({sample.name}.png)"
        if sample.pades:
            files += f", [signed]({sample.name}.signed.pdf)"
        lines.append(f"| {files} | {pages} | {sample.description} |")
    lines += [
        "",
        "Check one (QR record, and for the `.signed.pdf` the PAdES signature):",
        "",
        "```sh",
        "konbini-verify docs/samples/inkan.pdf --key docs/samples/sample-issuing-ed25519.pub",
        "konbini-verify docs/samples/juminhyo_kojin.signed.pdf --key docs/samples/sample-issuing-ed25519.pub \\",
        "    --trust docs/samples/sample-city-issuing.crt",
        "```",
        "",
        "`sample-issuing-ed25519.pub` is the public half of a sample key derived from a published seed (see the",
        "script): it proves nothing about real certificates. `sample-city-issuing.crt` is the certificate of a",
        "throwaway PAdES identity made when the samples were generated.",
        "",
    ]
    (out / "README.md").write_text("\n".join(lines), encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="output folder (default: docs/samples)")
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    key = sample_key()
    (out / "sample-issuing-ed25519.pub").write_bytes(public_key_pem(key.public_key()))
    with tempfile.TemporaryDirectory(prefix="konbini-samples-") as tmp:
        pades.create_signing_identity(Path(tmp) / "secrets", Path(tmp) / "keys", "鹿児島市")
        signer = pades.load_signer(Path(tmp) / "secrets", Path(tmp) / "keys")
        (out / "sample-city-issuing.crt").write_bytes((Path(tmp) / "keys" / pades.CERT_FILE).read_bytes())
        made = []
        for sample in samples():
            cert = render_certificate(sample.request, key)
            pdf = out / f"{sample.name}.pdf"
            pdf.write_bytes(cert.pdf)
            first_page_png(pdf, out / f"{sample.name}.png")
            if sample.pades:
                (out / f"{sample.name}.signed.pdf").write_bytes(pades.sign_pdf(cert.pdf, signer))
            made.append((sample, cert.pages))
            print(f"{pdf.name}: {cert.pages} page(s), {len(cert.pdf) // 1024} kB")
    write_readme(out, made)
    total = sum(f.stat().st_size for f in out.iterdir() if f.is_file())
    print(f"{out}: {total // 1024} kB in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
