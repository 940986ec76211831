"""The evidence report as a PDF, with a Japanese font embedded (fpdf2, pure Python).

The font is Debian's IPA Gothic (``fonts-ipafont-gothic``, installed by ``make browser``
and in the Docker image); without it no PDF is made and the HTML report stands alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from app.i18n import gettext as _
from app.investigate.report import Evidence, sections

FONT_PATHS: Final = (
    Path("/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf"),
    Path("/usr/share/fonts/truetype/ipafont-gothic/ipag.ttf"),
)


class NoReportFont(RuntimeError):
    """No font that draws Japanese is installed."""


def report_font() -> Path:
    for path in FONT_PATHS:
        if path.is_file():
            return path
    raise NoReportFont("install fonts-ipafont-gothic to make PDF reports")


def render_pdf(evidence: Evidence) -> bytes:
    """The report as PDF bytes."""
    from fpdf import FPDF
    from fpdf.enums import WrapMode, XPos, YPos

    pdf = FPDF(format="A4")
    pdf.set_title(_("Evidence report, investigation #%(id)s", id=evidence.case.id))
    pdf.set_creator(evidence.software)
    pdf.add_font("IPAGothic", "", str(report_font()))
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("IPAGothic", size=15)
    pdf.multi_cell(
        0,
        8,
        _("Evidence report, investigation #%(id)s", id=evidence.case.id),
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.set_font("IPAGothic", size=10)
    pdf.multi_cell(0, 5, evidence.verdict_text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    for title, rows in sections(evidence):
        pdf.ln(3)
        pdf.set_font("IPAGothic", size=12)
        pdf.multi_cell(0, 6, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font("IPAGothic", size=8.5)
        for label, value in rows:
            pdf.multi_cell(
                0,
                4.5,
                f"{label}: {value}",
                new_x=XPos.LMARGIN,
                new_y=YPos.NEXT,
                wrapmode=WrapMode.CHAR,
            )
    pdf.ln(3)
    pdf.set_font("IPAGothic", size=12)
    pdf.multi_cell(0, 6, _("Hash list for platforms"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("IPAGothic", size=8.5)
    for name, sha256, pdq in evidence.hash_list:
        pdf.multi_cell(
            0,
            4.5,
            f"{name}\nSHA-256 {sha256}\nPDQ {pdq}",
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
            wrapmode=WrapMode.CHAR,
        )
    pdf.ln(3)
    pdf.set_font("IPAGothic", size=12)
    pdf.multi_cell(0, 6, _("What this shows"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("IPAGothic", size=9)
    for text in (evidence.proves, evidence.does_not_prove, evidence.false_attribution):
        pdf.multi_cell(0, 4.8, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT, wrapmode=WrapMode.CHAR)
        pdf.ln(1)
    return bytes(pdf.output())
