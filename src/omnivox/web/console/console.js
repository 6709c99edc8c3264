// The console's live parts: the queue and the open conversation follow server-sent events,
// canned replies fill the reply box, the template select shows its parameters. Text from
// customers is inserted with textContent only.
(function () {
  "use strict";
  const live = document.getElementById("live");
  const queue = document.getElementById("queue");
  const transcript = document.getElementById("transcript");
  const conversation = document.querySelector(".conversation");
  const replyBox = document.getElementById("reply-text");

  document.querySelectorAll(".canned-reply").forEach((button) => {
    button.addEventListener("click", () => { if (replyBox) replyBox.value = button.dataset.text; });
  });

  // a WhatsApp template: only the chosen template's parameters are shown and posted
  const templateName = document.getElementById("template-name");
  function showTemplate() {
    document.querySelectorAll(".template-parameters").forEach((fields) => {
      const other = fields.dataset.template !== templateName.value;
      fields.hidden = other;
      fields.disabled = other;
    });
  }
  if (templateName) {
    templateName.addEventListener("change", showTemplate);
    showTemplate();
  }

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function addHandoff(h) {
    if (!queue || queue.querySelector(`[data-handoff="${h.id}"]`)) return;
    const empty = queue.querySelector(".empty");
    if (empty) empty.remove();
    const row = document.createElement("tr");
    row.dataset.handoff = h.id;
    row.className = "new";
    const link = document.createElement("a");
    link.href = `/console/handoffs/${encodeURIComponent(h.id)}`;
    link.textContent = (h.packet.customer && h.packet.customer.name) || h.customer_id;
    cell(row, "").appendChild(link);
    cell(row, h.packet.channel || "");
    cell(row, h.packet.summary || "").dir = "auto";
    cell(row, h.status).className = "status";
    cell(row, h.created_at.replace("T", " ").slice(0, 16));
    queue.appendChild(row);
  }

  // another agent claimed, was assigned, resolved or returned a conversation: follow it
  function updateHandoff(h, agentName) {
    const row = queue && queue.querySelector(`[data-handoff="${h.id}"]`);
    if (!row) return;
    if (h.status !== "waiting" && h.status !== "claimed") {
      row.remove();
      if (!queue.querySelector("tr[data-handoff]")) {
        const empty = document.createElement("tr");
        empty.className = "empty";
        cell(empty, "Nobody is waiting.").colSpan = 5;
        queue.appendChild(empty);
      }
      return;
    }
    row.dataset.status = h.status;
    const status = row.querySelector(".status");
    if (status) status.textContent = agentName ? `${h.status} (${agentName})` : h.status;
  }

  function addMessage(event) {
    if (!transcript || !conversation || event.conversation_id !== conversation.dataset.conversation) return;
    const item = document.createElement("li");
    item.className = "in new";
    const meta = document.createElement("span");
    meta.className = "meta";
    meta.textContent = `${event.channel} · now`;
    const text = document.createElement("p");
    text.dir = "auto";
    text.textContent = event.text;
    item.append(meta, text);
    transcript.appendChild(item);
  }

  function suggestion(event) {
    if (!conversation || !replyBox || event.handoff_id !== conversation.dataset.handoff) return;
    if (!replyBox.value) replyBox.value = event.text;
    const note = document.getElementById("suggestion-note");
    if (note) note.remove();
  }

  if (!window.EventSource || (!live && !conversation)) return;  // the login page has no feed
  const source = new EventSource("/console/events");
  source.onopen = () => live && live.classList.remove("off");
  source.onerror = () => live && live.classList.add("off");
  source.onmessage = (message) => {
    const event = JSON.parse(message.data);
    if (event.type === "handoff") addHandoff(event.handoff);
    else if (event.type === "message") addMessage(event);
    else if (event.type === "suggestion") suggestion(event);
    else if (event.type === "update") updateHandoff(event.handoff, event.agent_name);
  };
})();
