// Passkeys (WebAuthn): a button with data-passkey="create" or "get" runs
// navigator.credentials.create()/get() with the options the server put in the page
// (<script type="application/json" id="passkey-options">), writes the answer as JSON into the
// form's hidden "answer" field and submits the form. Loaded from 'self': the CSP allows no
// inline script and no fetch, so options come in the page and the answer goes by form post.
(() => {
  "use strict";

  const toBytes = (text) => {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "===".slice((base64.length + 3) % 4);
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  };
  const toText = (buffer) => {
    const bytes = new Uint8Array(buffer);
    let binary = "";
    for (const byte of bytes) binary += String.fromCharCode(byte);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };
  const descriptors = (list) => (list || []).map((c) => ({ ...c, id: toBytes(c.id) }));

  function creationOptions(options) {
    return {
      ...options,
      challenge: toBytes(options.challenge),
      user: { ...options.user, id: toBytes(options.user.id) },
      excludeCredentials: descriptors(options.excludeCredentials),
    };
  }

  function requestOptions(options) {
    return {
      ...options,
      challenge: toBytes(options.challenge),
      allowCredentials: descriptors(options.allowCredentials),
    };
  }

  // The JSON py_webauthn reads (WebAuthn Level 3's toJSON() shape, made by hand for older
  // browsers).
  function answer(credential) {
    const r = credential.response;
    const out = {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: { clientDataJSON: toText(r.clientDataJSON) },
    };
    if (r.attestationObject) {
      out.response.attestationObject = toText(r.attestationObject);
      out.response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      out.response.authenticatorData = toText(r.authenticatorData);
      out.response.signature = toText(r.signature);
      out.response.userHandle = r.userHandle ? toText(r.userHandle) : null;
    }
    return out;
  }

  function say(form, text) {
    const status = form.querySelector("[data-passkey-status]");
    if (status) status.textContent = text;
  }

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-passkey]");
    if (!button || !button.form) return;
    event.preventDefault();
    const form = button.form;
    if (!window.PublicKeyCredential) {
      say(form, "This browser does not support passkeys.");
      return;
    }
    if (!form.reportValidity()) return;
    const options = JSON.parse(document.getElementById("passkey-options").textContent);
    button.disabled = true;
    say(form, "Waiting for your passkey…");
    try {
      const credential =
        button.dataset.passkey === "create"
          ? await navigator.credentials.create({ publicKey: creationOptions(options) })
          : await navigator.credentials.get({ publicKey: requestOptions(options) });
      form.elements.answer.value = JSON.stringify(answer(credential));
      form.submit();
    } catch (error) {
      button.disabled = false;
      say(form, "No passkey was used (" + (error.name || "error") + "). You can try again.");
    }
  });
})();
