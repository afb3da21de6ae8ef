"""Findings of the checks: one line naming the symptom, the likely cause and the fix.

A :class:`Finding` has a severity: ``"error"`` stops a fit, ``"warning"`` is logged and stored
and becomes an error under ``--strict`` (:func:`raise_on`). The checks that make them are in
:mod:`fastjam.input_checks` (before sampling) and :mod:`fastjam.diagnostics` (of a posterior).
"""
import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Finding:
    """One diagnostic message.

    Attributes
    ----------
    code : str
        Short identifier, e.g. ``"chi2_high"``.
    severity : {"warning", "error"}
    message : str
        One line: the symptom, the likely cause and the fix.
    """

    code: str
    severity: str
    message: str

    def __str__(self):
        return f"{self.severity}: {self.message}"


def raise_on(findings, strict=False):
    """Log every finding; raise ``ValueError`` on errors (and on warnings when ``strict``)."""
    fatal = [f for f in findings if f.severity == "error" or strict]
    for f in findings:
        if f not in fatal:
            log.warning("%s", f.message)
    if fatal:
        extra = " (--strict: warnings are errors)" if strict and any(f.severity == "warning" for f in fatal) else ""
        raise ValueError("; ".join(f.message for f in fatal) + extra)
