// Small DOM helpers. Server data only ever reaches the DOM as text.

export const $ = (id) => document.getElementById(id);

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function text(tag, value, className) {
  const node = document.createElement(tag);
  node.textContent = value === undefined || value === null ? "" : String(value);
  if (className) node.className = className;
  return node;
}

export const code = (value) => text("code", value);

export const words = (value) => document.createTextNode(value);
