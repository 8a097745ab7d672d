"""The dashboard's one serving-store handle (below queries and model_reads, which both use it)."""

from __future__ import annotations

from typing import Any

import streamlit as st


@st.cache_resource
def store(url: str) -> Any:
    """One :class:`Store` per URL, shared by sessions (the engine pools connections)."""
    from riskwarn.store import Store

    s = Store(url)
    s.upgrade()
    return s
