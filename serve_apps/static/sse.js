// Server-sent events parsed as the HTML standard says (the "event stream interpretation"):
// lines end with CRLF, LF or CR (a CR at the end of a chunk waits for the next one, which may
// start with its LF); a leading BOM is dropped; ":" starts a comment; "field: value" loses one
// space after the colon; a blank line dispatches the message; a message without "data" is
// not dispatched; "id" (without NUL) is remembered across messages; "retry" takes digits only.
// Pure: no DOM, no network (the feed feeds it chunks; tests/unit/test_web_js.py drives it).

export class SseParser {
  constructor() {
    this.buffer = "";
    this.scanned = 0; // how far `buffer` has been searched for a line end
    this.started = false;
    this.type = "";
    this.data = [];
    this.lastEventId = "";
    this.retry = null; // the server's reconnection time (ms), when it sent one
    this.comments = 0;
  }

  /** Feeds a decoded chunk; the messages it completes: [{type, data, id}]. */
  push(chunk) {
    let textChunk = String(chunk);
    if (!this.started && textChunk) {
      this.started = true;
      if (textChunk.charCodeAt(0) === 0xfeff) textChunk = textChunk.slice(1);
    }
    this.buffer += textChunk;
    const out = [];
    const buf = this.buffer;
    let lineStart = 0;
    let i = this.scanned;
    while (i < buf.length) {
      const c = buf.charCodeAt(i);
      if (c !== 10 && c !== 13) { i++; continue; }
      if (c === 13 && i + 1 === buf.length) break; // CR last: is an LF coming?
      this.line(buf.slice(lineStart, i), out);
      i += c === 13 && buf.charCodeAt(i + 1) === 10 ? 2 : 1;
      lineStart = i;
    }
    this.buffer = buf.slice(lineStart);
    this.scanned = i - lineStart;
    return out;
  }

  /** The stream ended: a message without its blank line is discarded, as browsers do. */
  end() {
    this.buffer = "";
    this.scanned = 0;
    this.type = "";
    this.data = [];
    return [];
  }

  line(line, out) {
    if (line === "") {
      if (this.data.length) {
        out.push({ type: this.type || "message", data: this.data.join("\n"), id: this.lastEventId });
      }
      this.type = "";
      this.data = [];
      return;
    }
    if (line.charCodeAt(0) === 58) { // ":" a comment (the server's keep-alive)
      this.comments++;
      return;
    }
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (field === "event") this.type = value;
    else if (field === "data") this.data.push(value);
    else if (field === "id") { if (!value.includes("\0")) this.lastEventId = value; }
    else if (field === "retry") { if (/^[0-9]+$/.test(value)) this.retry = Number(value); }
  }
}
