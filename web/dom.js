/**
 * The page's only way to make elements: every string given here becomes a text node or an attribute value,
 * never markup, so a history reason like <img onerror=...> is shown as the characters it is.
 */

/** An HTML element: props `class`, `text`, on<event> listeners, anything else an attribute. */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  setProps(el, props);
  append(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** An SVG element, same props as h(). */
export function s(tag, props, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setProps(el, props);
  append(el, children);
  return el;
}

function setProps(el, props) {
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.setAttribute('class', String(value));
    else if (key === 'text') el.textContent = String(value);
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, String(value));
  }
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A time as UTC, to the second (the CLI prints the same). */
export function utc(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '-';
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

/** A store value as text: null and missing values as a dash. */
export function text(value) {
  return value === undefined || value === null || value === '' ? '-' : String(value);
}

/** A command to copy, with a button; clipboard access is optional (the text stays selectable). */
export function command(line) {
  const code = h('code', { class: 'cmd', text: line });
  const button = h('button', {
    type: 'button', class: 'copy', text: 'copy', title: 'copy the command',
    onclick: () => {
      const done = () => { button.textContent = 'copied'; setTimeout(() => { button.textContent = 'copy'; }, 1500); };
      const select = () => {
        const range = document.createRange();
        range.selectNodeContents(code);
        getSelection()?.removeAllRanges();
        getSelection()?.addRange(range);
        button.textContent = 'press Ctrl-C';
      };
      if (navigator.clipboard) navigator.clipboard.writeText(line).then(done, select);
      else select();
    },
  });
  return h('span', { class: 'command' }, code, button);
}
