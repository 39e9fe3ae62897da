"""Human evaluation of Receivers (paper Appendix B): annotators judge each belief update
of a transcript for direction and proportion, then rate the transcript.

Modules: transcripts (input schema), storage (SQLite), assignment, flow (step order),
forms (validation), views (what a page shows), app (FastAPI), summary (export and the
B.3 statistics), cli (`persuasion-rl annotate ...`).
"""
