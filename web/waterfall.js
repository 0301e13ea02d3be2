/*
 * The waterfall panel and the "Download HAR" button of the live view. Both use the server's HAR
 * (GET /har, streams/web-har.ts) of the exchanges the filter box selects, so they show what the table
 * shows. Each exchange is a row of bars on one time axis shared by all rows, grouped by TCP connection
 * (like the Network panel of the browsers' DevTools):
 *
 *   connect (SYN → handshake done) · blocked (idle connection before the request) · send (request first →
 *   last byte) · wait (→ response first byte) · receive (→ response last byte)
 *
 * In a HAR written from a capture the idle time comes after the handshake, so it is drawn after connect.
 * The panel polls once a second while it is open (the table's data keeps coming on a live capture).
 */
(function () {
  'use strict';

  const PHASES = ['connect', 'blocked', 'send', 'wait', 'receive'];
  const POLL_MS = 1000;
  /** The newest exchanges drawn (the server caps it too). */
  const MAX_DRAWN = 2000;

  const $ = (id) => document.getElementById(id);
  let pollTimer = null;
  let filterTimer = null;
  let lastText = null;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function filterText() {
    const f = $('filter');
    return f ? f.value : '';
  }

  function harUrl(extra) {
    return '/har?filter=' + encodeURIComponent(filterText()) + (extra || '');
  }

  function msText(v) {
    if (v >= 1000) return (v / 1000).toFixed(v >= 10000 ? 1 : 2) + ' s';
    if (v >= 10) return v.toFixed(0) + ' ms';
    return v.toFixed(v >= 1 ? 1 : 3) + ' ms';
  }

  /** The phases of an entry as [name, start ms, duration ms], in the order they happened. */
  function phases(entry) {
    let t = Date.parse(entry.startedDateTime);
    const out = [];
    for (const name of PHASES) {
      const d = entry.timings[name];
      if (typeof d !== 'number' || d < 0) continue;
      out.push([name, t, d]);
      t += d;
    }
    return out;
  }

  function pathOf(url) {
    const m = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*(.*)$/i.exec(url);
    return m ? (m[1] || '/') : url;
  }

  function render(entries) {
    const rows = $('wf-rows');
    rows.textContent = '';
    $('wf-empty').hidden = entries.length > 0;
    $('wf-count').textContent = entries.length ? `${entries.length} exchanges` : '';
    if (entries.length === 0) { $('wf-axis').textContent = ''; return; }
    let t0 = Infinity;
    let t1 = -Infinity;
    for (const e of entries) {
      const start = Date.parse(e.startedDateTime);
      t0 = Math.min(t0, start);
      t1 = Math.max(t1, start + e.time);
    }
    const span = Math.max(t1 - t0, 0.001);
    const pct = (t) => `${((t - t0) / span * 100).toFixed(4)}%`;

    // one group per connection, in the order the connections started; exchanges in order within
    const groups = new Map();
    for (const e of entries) {
      const key = e._pcap ? e._pcap.connection : (e.connection || '') + '|' + (e.serverIPAddress || '');
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(e);
    }
    const ordered = [...groups.entries()].map(([key, list]) => {
      list.sort((a, b) => Date.parse(a.startedDateTime) - Date.parse(b.startedDateTime));
      return [key, list];
    }).sort((a, b) => Date.parse(a[1][0].startedDateTime) - Date.parse(b[1][0].startedDateTime));

    for (const [key, list] of ordered) {
      const group = el('div', 'wf-group');
      group.dataset.connection = String(key);
      const first = list[0];
      const who = first._pcap ? `#${first._pcap.connection} ${first._pcap.client} → ${first._pcap.server}` : `${first.serverIPAddress || ''} :${first.connection || ''}`;
      group.appendChild(el('div', 'wf-conn', who));
      for (const e of list) {
        const row = el('div', 'wf-row');
        row.dataset.connection = String(key);
        row.dataset.start = String(Date.parse(e.startedDateTime));
        const status = e.response.status > 0 ? String(e.response.status) : '–';
        const label = el('span', 'wf-label');
        label.appendChild(el('span', 'wf-method', e.request.method));
        label.appendChild(el('span', 'wf-path', pathOf(e.request.url)));
        label.appendChild(el('span', 'wf-status s' + status[0], status));
        label.title = e.request.url;
        row.appendChild(label);
        const track = el('div', 'wf-track');
        const parts = phases(e);
        track.title = parts.map(([n, , d]) => `${n} ${msText(d)}`).join(' · ') + ` · total ${msText(e.time)}`;
        for (const [name, start, d] of parts) {
          const seg = el('span', 'wf-seg wf-' + name);
          seg.dataset.phase = name;
          seg.dataset.start = String(start);
          seg.dataset.ms = String(d);
          seg.style.left = pct(start);
          seg.style.width = `${(d / span * 100).toFixed(4)}%`;
          track.appendChild(seg);
        }
        // the total beside the bars: after them, or before them when they reach the right edge
        const time = el('span', 'wf-time', msText(e.time));
        const startPct = (Date.parse(e.startedDateTime) - t0) / span * 100;
        const endPct = startPct + e.time / span * 100;
        if (endPct < 85) time.style.left = `calc(${endPct.toFixed(4)}% + 4px)`;
        else time.style.right = `calc(${(100 - startPct).toFixed(4)}% + 4px)`;
        track.appendChild(time);
        row.appendChild(track);
        group.appendChild(row);
      }
      rows.appendChild(group);
    }

    const axis = $('wf-axis');
    axis.textContent = '';
    for (let i = 0; i <= 4; i++) {
      const tick = el('span', 'wf-tick', msText(span * i / 4));
      tick.style.left = `${i * 25}%`;
      axis.appendChild(tick);
    }
  }

  async function refresh() {
    let text;
    try {
      const r = await fetch(harUrl(`&bodies=0&last=${MAX_DRAWN}`));
      if (!r.ok) return;
      text = await r.text();
    } catch (e) {
      return; // the server is gone (the capture ended and it was stopped): keep what is drawn
    }
    if (text === lastText) return;
    lastText = text;
    render(JSON.parse(text).log.entries);
  }

  function open() {
    $('waterfall').hidden = false;
    $('wf-toggle').classList.add('on');
    lastText = null;
    refresh();
    pollTimer = setInterval(refresh, POLL_MS);
  }

  function close() {
    $('waterfall').hidden = true;
    $('wf-toggle').classList.remove('on');
    clearInterval(pollTimer);
    pollTimer = null;
  }

  function download() {
    const a = document.createElement('a');
    a.href = harUrl('');
    a.download = 'pcap-pipe.har';
    document.body.appendChild(a);
    a.click();
    a.remove();
  }

  function init() {
    if (!$('waterfall')) return;
    $('wf-toggle').addEventListener('click', () => ($('waterfall').hidden ? open() : close()));
    $('wf-close').addEventListener('click', close);
    $('har-download').addEventListener('click', download);
    const f = $('filter');
    if (f) {
      f.addEventListener('input', () => {
        if ($('waterfall').hidden) return;
        clearTimeout(filterTimer);
        filterTimer = setTimeout(refresh, 200);
      });
    }
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
