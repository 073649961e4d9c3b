//! What a person does on a page: clicks by a control's name, types into a field by its
//! label (with real input events), chooses, presses keys, resizes the window, logs in.

use std::time::Duration;

use serde_json::json;

use super::Page;

/// How long a control may take to appear before a step fails.
const FIND: Duration = Duration::from_secs(15);

impl Page {
    /// Clicks the first visible, enabled button or link whose text (exactly, trimmed) or
    /// accessible label is `name`, waiting for one.
    pub async fn click(&mut self, name: &str) {
        let script = format!(
            r#"(() => {{
                const wanted = {};
                const all = [...document.querySelectorAll('button, a, [role=button]')];
                const hit = all.find(e => (e.innerText.trim() === wanted || e.getAttribute('aria-label') === wanted)
                                          && e.offsetParent !== null && !e.disabled);
                if (!hit) return false;
                hit.click();
                return true;
            }})()"#,
            json!(name)
        );
        self.poll(&script, FIND, &format!("no button or link named {name:?}"))
            .await;
    }

    /// Focuses the control labelled `label` (by its `<label>`'s text, from the start, or by
    /// its `aria-label`), as a click on its label would.
    async fn focus(&mut self, label: &str) {
        let script = format!(
            r#"(() => {{
                const wanted = {};
                const l = [...document.querySelectorAll('label')].find(l => l.innerText.trim().startsWith(wanted));
                const control = (l && (l.control || l.querySelector('input, select, textarea')))
                    || document.querySelector(`[aria-label="${{CSS.escape(wanted)}}"]`);
                if (!control) return false;
                control.focus();
                if (control.select) control.select();
                return true;
            }})()"#,
            json!(label)
        );
        self.poll(&script, FIND, &format!("no control labelled {label:?}"))
            .await;
    }

    /// Logs in on the dashboard's login page (the tab must be on it).
    pub async fn log_in(&mut self, email: &str, password: &str) {
        self.fill("Email", email).await;
        self.fill("Password", password).await;
        self.click("Log in").await;
    }

    /// Types `value` into the control labelled `label`, replacing what it held, with real
    /// input events.
    pub async fn fill(&mut self, label: &str, value: &str) {
        self.focus(label).await;
        self.press("Delete").await;
        if !value.is_empty() {
            self.call(
                "Input.insertText",
                json!({"text": value}),
                Duration::from_secs(10),
            )
            .await;
        }
    }

    /// Chooses `value` in the select labelled `label`.
    pub async fn choose(&mut self, label: &str, value: &str) {
        self.focus(label).await;
        let script = format!(
            r#"(() => {{
                const s = document.activeElement;
                s.value = {};
                s.dispatchEvent(new Event('change', {{bubbles: true}}));
                return s.value;
            }})()"#,
            json!(value)
        );
        assert_eq!(
            self.evaluate(&script, Duration::from_secs(10)).await,
            json!(value)
        );
    }

    /// Presses and releases a key (`Tab`, `Enter`, `Escape`, `Delete`, ...).
    pub async fn press(&mut self, key: &str) {
        let code = match key {
            "Tab" => 9,
            "Enter" => 13,
            "Escape" => 27,
            "Delete" => 46,
            other => panic!("no key code for {other}"),
        };
        for kind in ["rawKeyDown", "keyUp"] {
            let mut event =
                json!({"type": kind, "key": key, "code": key, "windowsVirtualKeyCode": code});
            if key == "Enter" && kind == "rawKeyDown" {
                event = json!({"type": "keyDown", "key": key, "code": key, "windowsVirtualKeyCode": code, "text": "\r"});
            }
            self.call("Input.dispatchKeyEvent", event, Duration::from_secs(10))
                .await;
        }
    }

    /// Sets the viewport (a phone is 390 by 844).
    pub async fn resize(&mut self, width: u32, height: u32) {
        let params = json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600});
        self.call(
            "Emulation.setDeviceMetricsOverride",
            params,
            Duration::from_secs(10),
        )
        .await;
    }
}
