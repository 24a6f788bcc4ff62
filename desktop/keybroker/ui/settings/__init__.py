# SPDX-License-Identifier: Apache-2.0
"""The settings window's parts: one module per tab, plus the small pieces they share.

`keybroker.ui.settings_window.SettingsWindow` assembles them; nothing here touches the vault on the UI
thread (blocking core calls go through `jobs.JobRunner`).
"""
