"""Publishable output: tables as CSV, Markdown and LaTeX (booktabs), and the self-contained HTML report.

Driven by `workflow/rules/report.smk` (report_html); every stage's table rule writes through `tables`.
"""
