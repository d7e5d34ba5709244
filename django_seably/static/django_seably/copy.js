"use strict";
// Copy the webhook URL to the clipboard; fall back to selecting it where the clipboard API is unavailable.
document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-seably-copy]");
    if (!button) {
        return;
    }
    const input = document.getElementById(button.dataset.seablyCopy);
    const copied = document.getElementById(`${button.dataset.seablyCopy}-copied`);
    const done = () => {
        if (copied) {
            copied.hidden = false;
        }
    };
    input.select();
    if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(done, () => document.execCommand("copy") && done());
    } else if (document.execCommand("copy")) {
        done();
    }
});
