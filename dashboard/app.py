"""riskwarn dashboard entry point: ``streamlit run dashboard/app.py`` (or ``riskwarn dashboard``).

One entry point with ``st.navigation`` over the thin pages in ``pages/``; sign-in,
language and the role check live in :mod:`dashboard.shell`.
"""

from dashboard.shell import main

main()
