"""ats: a recruiter-side applicant tracking backend, shipped as a Litestar plugin."""

from .plugin import ATSConfig, ATSPlugin

__all__ = ["ATSConfig", "ATSPlugin"]
