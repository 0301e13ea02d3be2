// pcap-pipe live view: the page. Plain JS, no build step, no dependencies.
// The server sends a snapshot on connect, then batched updates; the page mirrors them (bounded by the
// server's limits) and renders incrementally. Captured content is only ever inserted as text; raw bodies
// (images, "open raw", downloads) come from the server's /body/ route, served under a sandbox CSP.
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);

  const state = {
    limits: { maxRows: 2000, maxWsMessages: 2000, maxTcpEvents: 1000 },
    rowsTotal: 0,
    dropped: null,
    wsConnections: new Map(),
    wsMessages: [],
    tcpEvents: [],
    series: new Map(), // second → point
    counters: null,
    ended: false,
    connected: false,
    paused: false,
    pendingWhilePaused: 0,
    selected: null,
    wsFilter: null, // connection number or null for all
    title: null,
  };
  /** The rendered <tr> of a row id, if it is in view. */
  const rowEl = (id) => document.querySelector(`#rows tr[data-id="${id}"]`);
  let socket = null;
  let reconnectDelay = 500;

  // ------------------------------------------------------------------------------------------
  // formatting

  function pad(n, w) { return String(n).padStart(w, '0'); }
  function clock(t) {
    const d = new Date(t * 1000);
    return `${pad(d.getHours(), 2)}:${pad(d.getMinutes(), 2)}:${pad(d.getSeconds(), 2)}.${pad(d.getMilliseconds(), 3)}`;
  }
  function bytes(n) {
    if (n === null || n === undefined) return '';
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10240 ? 1 : 0)} kB`;
    if (n < 1024 * 1024 * 1024) return `${(n / 1048576).toFixed(1)} MB`;
    return `${(n / 1073741824).toFixed(2)} GB`;
  }
  function count(n) {
    if (n < 10000) return String(n);
    if (n < 1e6) return `${(n / 1000).toFixed(1)}k`;
    return `${(n / 1e6).toFixed(2)}M`;
  }
  function ms(sec) {
    if (sec === null || sec === undefined) return '';
    const v = sec * 1000;
    return v < 10 ? `${v.toFixed(2)} ms` : v < 1000 ? `${v.toFixed(1)} ms` : `${(v / 1000).toFixed(2)} s`;
  }
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  // ------------------------------------------------------------------------------------------
  // exchanges table: virtual scrolling over every row the server keeps (a whole file, or the live window).
  // The server holds the rows and applies the filter; the page asks for the pages of rows it shows
  // ({type:'rows', from, count, filter}), caches a bounded number of them, and renders only the rows in
  // view plus a margin, between two spacer rows that give the scrollbar the height of the whole table.

  const PAGE_ROWS = 200;      // rows per request
  const OVERSCAN_ROWS = 40;   // rendered above and below the visible rows
  const MAX_CACHED_ROWS = 8000;
  const view = {
    filter: '',          // the filter text as sent to the server ('' = every row)
    total: 0,            // rows in the (filtered) table
    rowsKept: 0,         // rows the server keeps
    firstRowId: 1,       // id of the oldest kept row: unfiltered row i has id firstRowId + i
    ids: new Map(),      // filtered table: row index → id
    rows: new Map(),     // id → row, a cache
    asked: new Map(),    // page number → generation it was asked in
    generation: 0,       // bumped when the filter changes: older answers are ignored
    rowHeight: 0,        // measured from the first rendered row
    fresh: new Set(),    // ids that arrived since the last render (briefly highlighted)
    renderQueued: false,
    afterFirstAnswer: null, // after a filter change: scroll to the end once the filtered size is known
  };

  function idAt(i) { return view.filter ? view.ids.get(i) : view.firstRowId + i; }

  function fillRow(tr, row) {
    tr.textContent = '';
    tr.className = '';
    tr.dataset.id = String(row.id);
    tr.classList.toggle('trouble', row.tcp.length > 0);
    tr.appendChild(el('td', 'c-time', clock(row.time)));
    tr.appendChild(el('td', 'c-sensor', row.sensor || ''));
    tr.appendChild(el('td', 'c-client', row.client));
    tr.appendChild(el('td', 'c-server', row.server));
    tr.appendChild(el('td', 'method', row.method || '—'));
    tr.appendChild(el('td', 'c-host', row.host));
    const url = el('td', 'url', row.url || '—');
    url.title = row.url || '';
    tr.appendChild(url);
    let statusText = '…';
    let statusCls = 'pending';
    if (row.status !== null) {
      statusText = `${row.status} ${row.reason || ''}`.trim();
      statusCls = `s${String(row.status)[0]}`;
    } else if (row.state === 'incomplete') {
      statusText = 'incomplete';
    }
    tr.appendChild(el('td', `c-status ${statusCls}`, statusText));
    tr.appendChild(el('td', 'num', row.requestBytes ? bytes(row.requestBytes) : ''));
    const resp = el('td', 'num', bytes(row.responseDecodedBytes !== null && row.responseDecodedBytes !== row.responseBytes ? row.responseDecodedBytes : row.responseBytes));
    if (row.responseDecodedBytes !== null && row.responseDecodedBytes !== row.responseBytes) resp.title = `${bytes(row.responseBytes)} on the wire`;
    tr.appendChild(resp);
    tr.appendChild(el('td', 'num', ms(row.responseTime)));
    const tcp = el('td', 'c-tcp');
    if (row.websocket) tcp.appendChild(el('span', 'badge ws', 'ws'));
    for (const f of row.tcp) tcp.appendChild(el('span', `badge ${f}`, f));
    tr.appendChild(tcp);
    tr.classList.toggle('selected', state.selected === row.id);
    if (view.fresh.has(row.id)) tr.classList.add('fresh');
  }

  /** A row not loaded yet: its number and a loading mark, until the server's answer arrives. */
  function fillPlaceholder(tr, i) {
    tr.textContent = '';
    tr.className = 'placeholder';
    delete tr.dataset.id;
    tr.appendChild(el('td', 'c-time muted', `#${i + 1}`));
    tr.appendChild(el('td', 'c-sensor'));
    for (let k = 0; k < 5; k++) tr.appendChild(el('td'));
    tr.appendChild(el('td', 'c-status pending', '…'));
    for (let k = 0; k < 4; k++) tr.appendChild(el('td'));
  }

  function askPage(page) {
    if (view.asked.get(page) === view.generation) return;
    view.asked.set(page, view.generation);
    send({ type: 'rows', from: page * PAGE_ROWS, count: PAGE_ROWS, filter: view.filter });
  }

  /** Forgets which pages were asked (their rows may have changed): the next render asks again. */
  function reaskVisible() { view.asked.clear(); }

  function queueRender() {
    if (view.renderQueued) return;
    view.renderQueued = true;
    requestAnimationFrame(() => { view.renderQueued = false; renderTable(); });
  }

  function renderTable() {
    const wrap = $('table-wrap');
    const body = $('rows');
    const h = view.rowHeight || 22;
    const first = Math.max(0, Math.min(view.total, Math.floor(wrap.scrollTop / h) - OVERSCAN_ROWS));
    const last = Math.min(view.total, Math.ceil((wrap.scrollTop + wrap.clientHeight) / h) + OVERSCAN_ROWS);
    // (1,000,000 rows of 22 px stay under Chromium's ~33 million px layout limit)
    $('pad-top').firstElementChild.style.height = `${first * h}px`;
    $('pad-bottom').firstElementChild.style.height = `${Math.max(0, view.total - last) * h}px`;
    while (body.childElementCount > last - first) body.lastElementChild.remove();
    while (body.childElementCount < last - first) body.appendChild(document.createElement('tr'));
    let missing = false;
    for (let i = first; i < last; i++) {
      const tr = body.children[i - first];
      const id = idAt(i);
      const row = id === undefined ? undefined : view.rows.get(id);
      if (row) {
        fillRow(tr, row);
      } else {
        fillPlaceholder(tr, i);
        askPage(Math.floor(i / PAGE_ROWS));
        missing = true;
      }
    }
    view.fresh.clear();
    if (!view.rowHeight && body.firstElementChild) {
      const measured = body.firstElementChild.getBoundingClientRect().height;
      if (measured > 0) { view.rowHeight = measured; queueRender(); }
    }
    trimCache(first, last);
    wrap.dataset.filter = view.filter;
    wrap.dataset.state = missing ? 'loading' : 'ready';
    tableFooter();
  }

  /** Keeps the row cache bounded: rows far from the view go (they are asked again when scrolled to). */
  function trimCache(first, last) {
    if (view.rows.size <= MAX_CACHED_ROWS) return;
    const keep = new Set();
    for (let i = Math.max(0, first - PAGE_ROWS); i < Math.min(view.total, last + PAGE_ROWS); i++) keep.add(idAt(i));
    for (const id of view.rows.keys()) if (!keep.has(id) && id !== state.selected) view.rows.delete(id);
    view.ids.clear();
    reaskVisible();
  }

  function atBottom(wrap) { return wrap.scrollHeight - wrap.scrollTop - wrap.clientHeight < 40; }

  function scrollToBottom() {
    const wrap = $('table-wrap');
    renderTable();
    wrap.scrollTop = wrap.scrollHeight;
    renderTable();
  }

  function tableFooter() {
    $('shown').textContent = view.filter ? `${view.total} of ${view.rowsKept} exchanges match` : `${view.rowsKept} exchanges`;
    const dropped = state.rowsTotal - view.rowsKept;
    const notes = [];
    if (dropped > 0) notes.push(`${dropped} older rows dropped (the newest ${state.limits.maxRows} are kept)`);
    const details = state.dropped ? state.dropped.details : 0;
    if (details > 0) notes.push(`headers and bodies of ${details} older exchanges not kept (the newest ${state.limits.maxDetailRows} are)`);
    $('dropped').textContent = notes.join(' · ');
    $('paused-note').textContent = state.paused ? `paused${state.pendingWhilePaused ? ` — ${state.pendingWhilePaused} updates waiting` : ''}` : '';
    $('empty').hidden = view.rowsKept > 0;
  }

  /** The server's answer to a 'rows' request. */
  function applyRows(m) {
    if (m.filter !== view.filter) return;
    view.rowsKept = m.rowsKept;
    if (view.filter) {
      view.total = m.total;
      for (let k = 0; k < m.rows.length; k++) view.ids.set(m.from + k, m.rows[k].id);
    } else {
      view.firstRowId = m.firstRowId;
      view.total = m.rowsKept;
    }
    for (const row of m.rows) view.rows.set(row.id, row);
    if (!state.paused) queueRender();
  }

  function applyFilter() {
    const text = $('filter').value.trim();
    if (text === view.filter) return;
    view.filter = text;
    view.generation++;
    view.ids.clear();
    view.asked.clear();
    const wrap = $('table-wrap');
    wrap.dataset.state = 'loading';
    wrap.dataset.filter = text;
    if (!text) {
      view.total = view.rowsKept;
      scrollToBottom();
      return;
    }
    // The filtered table's size comes with the first answer; then show its end, like the unfiltered one.
    const gen = view.generation;
    view.total = 0;
    askPage(0);
    view.afterFirstAnswer = () => { if (gen === view.generation) { view.asked.clear(); scrollToBottom(); } };
  }

  // ------------------------------------------------------------------------------------------
  // detail pane

  function select(id) {
    if (state.selected !== null) rowEl(state.selected)?.classList.remove('selected');
    state.selected = id;
    rowEl(id)?.classList.add('selected');
    const row = view.rows.get(id);
    $('detail').hidden = false;
    $('middle').classList.add('narrow');
    $('detail-title').textContent = row ? `${row.method || '?'} ${row.url || ''}` : `#${id}`;
    $('detail-body').textContent = '';
    $('detail-body').appendChild(el('div', 'muted', 'loading…'));
    send({ type: 'detail', id });
  }

  function closeDetail() {
    if (state.selected !== null) rowEl(state.selected)?.classList.remove('selected');
    state.selected = null;
    $('detail').hidden = true;
    $('middle').classList.remove('narrow');
  }

  function headerValue(headers, name) {
    for (const [n, v] of headers || []) if (n.toLowerCase() === name) return v;
    return undefined;
  }

  function kvTable(pairs) {
    const t = el('table', 'kv');
    for (const [k, v] of pairs) {
      const tr = el('tr');
      tr.appendChild(el('td', null, k));
      tr.appendChild(el('td', null, v));
      t.appendChild(tr);
    }
    return t;
  }

  function fromBase64(b64) {
    const bin = atob(b64);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function hexDump(data) {
    const lines = [];
    const n = Math.min(data.length, 4096);
    for (let off = 0; off < n; off += 16) {
      const chunk = data.subarray(off, Math.min(off + 16, n));
      const hex = Array.from(chunk, (b) => b.toString(16).padStart(2, '0')).join(' ');
      const text = Array.from(chunk, (b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : '.')).join('');
      lines.push(`${off.toString(16).padStart(6, '0')}  ${hex.padEnd(47)}  ${text}`);
    }
    if (data.length > n) lines.push(`… ${data.length - n} more bytes`);
    return lines.join('\n');
  }

  /** A body as the best view for it: image, pretty JSON, text, or a hex dump. */
  function bodyView(msg) {
    const box = document.createDocumentFragment();
    const type = (headerValue(msg.headers, 'content-type') || '').toLowerCase();
    if (msg.bodyDropped) box.appendChild(el('div', 'note', 'body dropped to stay within the memory limit'));
    if (msg.decodeError) box.appendChild(el('div', 'note', `content decoding: ${msg.decodeError}`));
    if (msg.body === undefined) {
      if (!msg.bodyDropped) box.appendChild(el('div', 'muted', msg.bodyLength ? 'body not kept' : 'no body'));
      return box;
    }
    const data = fromBase64(msg.body);
    if (msg.bodyTruncated) box.appendChild(el('div', 'note', `showing the first ${bytes(data.length)} of ${bytes(msg.decodedLength)}`));
    // The raw body comes from the server (/body/ID/SIDE), served under a sandbox CSP: opened in a tab
    // (or an SVG's scripts) it cannot act with this page's origin, as a blob: URL would.
    const raw = `/body/${msg.exchangeId}/${msg.side}`;
    const links = el('div', 'timing');
    const open = el('a', null, 'open raw');
    open.href = raw;
    open.target = '_blank';
    open.rel = 'noopener noreferrer';
    const save = el('a', null, 'download');
    save.href = `${raw}?download`;
    links.append(open, ' · ', save);
    box.appendChild(links);
    if (type.startsWith('image/') && !msg.bodyTruncated) {
      const img = el('img', 'body');
      img.alt = type;
      img.src = raw;
      box.appendChild(img);
      return box;
    }
    let text = null;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(data);
    } catch {
      text = null;
    }
    if (text !== null && (type.includes('json') || /^\s*[[{]/.test(text))) {
      try {
        box.appendChild(el('pre', 'body json', JSON.stringify(JSON.parse(text), null, 2)));
        return box;
      } catch {
        // not JSON after all (e.g. the article's unquoted {foo:): shown as text
      }
    }
    box.appendChild(el('pre', 'body', text !== null ? text : hexDump(data)));
    return box;
  }

  function renderDetail(id, d) {
    if (id !== state.selected) return;
    const body = $('detail-body');
    body.textContent = '';
    if (!d) {
      body.appendChild(el('div', 'muted', 'This exchange dropped off the server’s history.'));
      return;
    }
    if (d.detailDropped) {
      body.appendChild(el('div', 'note', 'The headers and bodies of this exchange were not kept (memory and spill limits); its summary is in the table.'));
    }
    const row = d.row;
    const title = `${row.method || '?'} ${row.url || ''}${row.status !== null ? ` → ${row.status} ${row.reason || ''}` : ''}`;
    $('detail-title').textContent = title;
    body.appendChild(kvTable([
      ['connection', `#${row.connection}  ${row.client} → ${row.server}`],
      ['time', clock(row.time)],
    ]));
    if (d.response && d.response.timing) {
      const t = d.response.timing;
      const parts = [];
      if (t.wait !== undefined) parts.push(`wait ${ms(t.wait)}`);
      parts.push(`transfer ${ms(t.transfer)}`);
      if (t.total !== undefined) parts.push(`total ${ms(t.total)}`);
      body.appendChild(el('div', 'timing', parts.join(' · ')));
    }
    if (row.tcp.length) body.appendChild(el('div', 'note', `TCP on this connection: ${row.tcp.join(', ')}`));
    if (d.request) {
      body.appendChild(el('h4', null, `Request · ${d.request.method} ${d.request.version}`));
      body.appendChild(el('div', 'timing', d.request.url));
      body.appendChild(kvTable(d.request.headers));
      if (d.request.body !== undefined || d.request.bodyLength) {
        body.appendChild(el('h4', null, `Request body · ${bytes(d.request.bodyLength)}`));
        body.appendChild(bodyView({ ...d.request, exchangeId: d.id, side: 'request' }));
      }
    } else {
      body.appendChild(el('div', 'note', 'the request was not seen'));
    }
    if (d.response) {
      body.appendChild(el('h4', null, `Response · ${d.response.status} ${d.response.reason}`));
      body.appendChild(kvTable(d.response.headers));
      if (d.response.trailers) {
        body.appendChild(el('h4', null, 'Trailers'));
        body.appendChild(kvTable(d.response.trailers));
      }
      const enc = d.response.contentEncoding ? ` · ${d.response.contentEncoding.join(', ')} ${bytes(d.response.bodyLength)} → ${bytes(d.response.decodedLength)}` : ` · ${bytes(d.response.bodyLength)}`;
      body.appendChild(el('h4', null, `Response body${enc}`));
      body.appendChild(bodyView({ ...d.response, exchangeId: d.id, side: 'response' }));
    } else {
      body.appendChild(el('h4', null, 'Response'));
      body.appendChild(el('div', 'muted', row.state === 'incomplete' ? 'the connection ended first' : 'waiting…'));
    }
    if (row.websocket) {
      body.appendChild(el('h4', null, 'WebSocket messages'));
      const msgs = state.wsMessages.filter((m) => m.connection === row.connection);
      const t = el('table', 'list');
      for (const m of msgs.slice(-200)) t.appendChild(wsRow(m));
      body.appendChild(msgs.length ? t : el('div', 'muted', 'none yet'));
    }
  }

  // ------------------------------------------------------------------------------------------
  // WebSocket and TCP panels

  function wsRow(m) {
    const tr = el('tr', m.kind === 'close' ? 'close' : '');
    tr.dataset.conn = String(m.connection);
    tr.appendChild(el('td', 't', clock(m.time)));
    tr.appendChild(el('td', 'conn', `#${m.connection}`));
    const dir = el('td', `dir ${m.from}`, m.from === 'client' ? '→' : '←');
    dir.title = m.from === 'client' ? 'client to server' : 'server to client';
    tr.appendChild(dir);
    tr.appendChild(el('td', 'kind', m.kind + (m.compressed ? ' (z)' : '')));
    tr.appendChild(el('td', 'len', m.kind === 'close' ? '' : bytes(m.length)));
    let preview = m.preview;
    if (m.kind === 'binary') preview = hexPreview(m.preview);
    const p = el('td', 'preview', preview + (m.truncated ? ' …' : ''));
    p.title = preview;
    tr.appendChild(p);
    return tr;
  }

  function hexPreview(b64) {
    const data = fromBase64(b64);
    return Array.from(data.subarray(0, 64), (b) => b.toString(16).padStart(2, '0')).join(' ') + (data.length > 64 ? ' …' : '');
  }

  function renderWsConnections() {
    const box = $('ws-conns');
    box.textContent = '';
    if (state.wsConnections.size === 0) return;
    const all = el('span', `chip${state.wsFilter === null ? ' active' : ''}`, 'all');
    all.addEventListener('click', () => { state.wsFilter = null; renderWsConnections(); renderWsMessages(); });
    box.appendChild(all);
    for (const c of state.wsConnections.values()) {
      const chip = el('span', `chip${state.wsFilter === c.connection ? ' active' : ''}${c.closed ? ' closed' : ''}`, `#${c.connection} ${c.url || ''} (${c.messages})`);
      chip.title = `${c.client} → ${c.server}${c.closed ? ' (closed)' : ''}`;
      chip.addEventListener('click', () => { state.wsFilter = c.connection; renderWsConnections(); renderWsMessages(); });
      box.appendChild(chip);
    }
  }

  function renderWsMessages() {
    const body = $('ws-messages');
    const wrap = $('ws-wrap');
    const stick = atBottom(wrap);
    body.textContent = '';
    const list = state.wsFilter === null ? state.wsMessages : state.wsMessages.filter((m) => m.connection === state.wsFilter);
    for (const m of list.slice(-500)) body.appendChild(wsRow(m));
    $('ws-empty').hidden = state.wsMessages.length > 0;
    $('ws-count').textContent = state.wsMessages.length ? `${state.wsMessages.length} messages on ${state.wsConnections.size} connections` : '';
    if (stick) wrap.scrollTop = wrap.scrollHeight;
  }

  function tcpRow(e) {
    const tr = el('tr', e.type);
    tr.appendChild(el('td', 't', clock(e.time)));
    tr.appendChild(el('td', 'ev', e.type));
    tr.appendChild(el('td', 'conn', `#${e.connection}`));
    tr.appendChild(el('td', 'ends', `${e.client} → ${e.server}`));
    tr.appendChild(el('td', null, e.info));
    return tr;
  }

  function renderTcpEvents(added) {
    const body = $('tcp-events');
    const wrap = $('tcp-wrap');
    const stick = atBottom(wrap);
    if (added === null) {
      body.textContent = '';
      for (const e of state.tcpEvents.slice(-500)) body.appendChild(tcpRow(e));
    } else {
      for (const e of added) body.appendChild(tcpRow(e));
      while (body.childElementCount > 500) body.firstElementChild.remove();
    }
    $('tcp-empty').hidden = state.tcpEvents.length > 0;
    const dropped = state.dropped ? state.dropped.tcpEvents : 0;
    $('tcp-count').textContent = state.tcpEvents.length ? `${state.tcpEvents.length}${dropped ? ` (+${dropped} older dropped)` : ''}` : '';
    if (stick) wrap.scrollTop = wrap.scrollHeight;
  }

  // ------------------------------------------------------------------------------------------
  // header counters

  function renderCounters() {
    const c = state.counters;
    if (!c) return;
    $('c-pps').textContent = count(c.packetsPerSecond);
    $('c-bps').textContent = bytes(c.bytesPerSecond);
    $('c-packets').textContent = count(c.packets);
    $('c-conns').textContent = `${c.openConnections} / ${c.connections}`;
    $('c-conns').title = 'open / total';
    $('c-requests').textContent = count(c.requests);
    const drops = c.kernelDrops === null ? '–' : count(c.kernelDrops + (c.ifDrops || 0));
    $('c-drops').textContent = drops;
    $('c-drops').title = c.kernelDrops === null ? 'unknown (not a live capture, no pcapng drop counts)' : `kernel ${c.kernelDrops}, interface ${c.ifDrops ?? '–'}`;
    $('c-drops').classList.toggle('bad', (c.kernelDrops || 0) > 0);
    const dot = $('status-dot');
    dot.className = `dot ${!state.connected ? 'down' : state.ended ? 'ended' : 'live'}`;
    dot.title = !state.connected ? 'disconnected from pcap-pipe' : state.ended ? 'capture ended' : 'live';
    $('state-label').textContent = !state.connected ? 'disconnected' : state.ended ? 'input ended' : '';
  }

  // ------------------------------------------------------------------------------------------
  // plot: requests/s as bars, average and maximum response time as lines, over capture time

  let plotQueued = false;
  function queuePlot() {
    if (plotQueued) return;
    plotQueued = true;
    requestAnimationFrame(() => { plotQueued = false; drawPlot(); });
  }

  function niceMax(v) {
    if (v <= 0) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  function drawPlot() {
    const canvas = $('plot');
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth;
    const h = canvas.clientHeight;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const g = canvas.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const css = getComputedStyle(document.documentElement);
    const muted = css.getPropertyValue('--muted').trim();
    const line = css.getPropertyValue('--line').trim();
    const warn = css.getPropertyValue('--warn').trim();
    const left = 44, right = 54, top = 24, bottom = 20;
    const pw = w - left - right;
    const ph = h - top - bottom;
    const points = [...state.series.values()].filter((p) => p.requests > 0 || p.responses > 0 || p.packets > 0).sort((a, b) => a.t - b.t);
    g.font = '10px system-ui, sans-serif';
    g.fillStyle = muted;
    if (points.length === 0 || pw < 50) {
      g.fillText('requests/s and response time will show here', left, top + ph / 2);
      return;
    }
    const tMax = points[points.length - 1].t;
    const span = Math.max(20, Math.min(state.limits.maxSeriesSeconds || 600, tMax - points[0].t + 1));
    const tMin = tMax - span + 1;
    const shown = points.filter((p) => p.t >= tMin);
    const reqMax = niceMax(Math.max(...shown.map((p) => p.requests)));
    const rtMax = niceMax(Math.max(...shown.map((p) => p.responseTimeMax * 1000)));
    const x = (t) => left + ((t - tMin) / span) * pw;
    const bw = Math.max(1, pw / span - 1);
    // grid and axes
    g.strokeStyle = line;
    g.lineWidth = 1;
    g.textAlign = 'right';
    for (let i = 0; i <= 4; i++) {
      const y = top + ph - (ph * i) / 4;
      g.beginPath(); g.moveTo(left, Math.round(y) + 0.5); g.lineTo(left + pw, Math.round(y) + 0.5); g.stroke();
      g.fillStyle = '#6f9fcc';
      g.fillText(String(+(reqMax * i / 4).toFixed(2)), left - 6, y + 3);
      g.fillStyle = warn;
      g.textAlign = 'left';
      g.fillText(`${+(rtMax * i / 4).toFixed(1)} ms`, left + pw + 6, y + 3);
      g.textAlign = 'right';
    }
    g.fillStyle = muted;
    g.textAlign = 'center';
    const step = span <= 60 ? 10 : span <= 180 ? 30 : span <= 600 ? 60 : 300;
    for (let t = Math.ceil(tMin / step) * step; t <= tMax; t += step) g.fillText(clock(t).slice(0, 8), x(t), h - 5);
    // bars: requests per second
    g.fillStyle = '#3f7fb8';
    for (const p of shown) {
      if (!p.requests) continue;
      const bh = (p.requests / reqMax) * ph;
      g.fillRect(x(p.t), top + ph - bh, bw, bh);
    }
    // lines: response time (avg, max)
    const rtPoints = shown.filter((p) => p.responses > 0);
    const yrt = (v) => top + ph - (v * 1000 / rtMax) * ph;
    const pathOf = (value, color, width) => {
      g.strokeStyle = color; g.lineWidth = width; g.beginPath();
      rtPoints.forEach((p, i) => { const px = x(p.t) + bw / 2; const py = yrt(value(p)); if (i === 0) g.moveTo(px, py); else g.lineTo(px, py); });
      g.stroke();
      g.fillStyle = color;
      for (const p of rtPoints) { g.beginPath(); g.arc(x(p.t) + bw / 2, yrt(value(p)), width + 0.5, 0, Math.PI * 2); g.fill(); }
    };
    pathOf((p) => p.responseTimeMax, '#ff6b6b88', 1);
    pathOf((p) => p.responseTimeSum / p.responses, warn, 2);
  }

  // ------------------------------------------------------------------------------------------
  // messages from the server

  function applySnapshot(m) {
    state.limits = m.limits;
    state.title = m.title;
    $('title').textContent = m.title ? `· ${m.title}` : '';
    // Fed from sensors (serve --from): the Sensor column; no HAR there (waterfall, download) when the server has none.
    document.body.classList.toggle('sensors', m.sensors === true);
    for (const id of ['har-download', 'wf-toggle']) if ($(id)) $(id).hidden = m.har === false;
    state.rowsTotal = m.rowsTotal;
    view.rowsKept = m.rowsKept;
    view.firstRowId = m.firstRowId;
    view.rows.clear();
    view.ids.clear();
    view.asked.clear();
    view.generation++;
    for (const row of m.rows) view.rows.set(row.id, row);
    if (!view.filter) view.total = m.rowsKept;
    state.wsConnections = new Map(m.wsConnections.map((c) => [c.connection, c]));
    state.wsMessages = m.wsMessages;
    state.tcpEvents = m.tcpEvents;
    state.series = new Map(m.series.map((p) => [p.t, p]));
    state.counters = m.counters;
    state.dropped = m.dropped;
    state.ended = m.ended;
    state.pendingWhilePaused = 0;
    if (view.filter) askPage(0);
    if (!state.paused) scrollToBottom();
    renderWsConnections();
    renderWsMessages();
    renderTcpEvents(null);
    renderCounters();
    queuePlot();
  }

  function applyUpdate(m) {
    const wrap = $('table-wrap');
    const stick = atBottom(wrap);
    const newestBefore = view.firstRowId + view.rowsKept;
    state.rowsTotal = m.rowsTotal;
    state.dropped = m.dropped;
    view.rowsKept = m.rowsKept;
    view.firstRowId = m.firstRowId;
    for (const row of m.rows) {
      view.rows.set(row.id, row);
      if (row.id >= newestBefore) view.fresh.add(row.id);
    }
    if (view.filter) {
      // Which rows match may have changed: ask again for what is shown (the old answer stays until then).
      if (m.rows.length || m.rowsTruncated) reaskVisible();
    } else {
      view.total = m.rowsKept;
      if (m.rowsTruncated) reaskVisible();
    }
    if (state.paused) {
      state.pendingWhilePaused += m.rows.length;
      tableFooter();
    } else if (m.rows.length || m.rowsTruncated) {
      if (stick) scrollToBottom();
      else renderTable();
    }
    if (state.selected !== null && m.rows.some((r) => r.id === state.selected) && !state.paused) send({ type: 'detail', id: state.selected });

    for (const c of m.wsConnections) state.wsConnections.set(c.connection, c);
    if (m.wsMessages.length) {
      state.wsMessages.push(...m.wsMessages);
      if (state.wsMessages.length > state.limits.maxWsMessages) state.wsMessages.splice(0, state.wsMessages.length - state.limits.maxWsMessages);
    }
    if ((m.wsConnections.length || m.wsMessages.length) && !state.paused) { renderWsConnections(); renderWsMessages(); }
    if (m.tcpEvents.length) {
      state.tcpEvents.push(...m.tcpEvents);
      if (state.tcpEvents.length > state.limits.maxTcpEvents) state.tcpEvents.splice(0, state.tcpEvents.length - state.limits.maxTcpEvents);
    }
    if (m.tcpEvents.length && !state.paused) renderTcpEvents(m.tcpEvents);
    for (const p of m.series) state.series.set(p.t, p);
    const max = state.limits.maxSeriesSeconds || 600;
    if (state.series.size > max) {
      const keys = [...state.series.keys()].sort((a, b) => a - b);
      for (const k of keys.slice(0, keys.length - max)) state.series.delete(k);
    }
    if (m.series.length && !state.paused) queuePlot();
    state.counters = m.counters;
    state.ended = m.ended;
    renderCounters();
  }

  function onMessage(ev) {
    let m;
    try { m = JSON.parse(ev.data); } catch { return; }
    if (m.type === 'snapshot') applySnapshot(m);
    else if (m.type === 'update') applyUpdate(m);
    else if (m.type === 'detail') renderDetail(m.id, m.detail);
    else if (m.type === 'rows') {
      applyRows(m);
      if (view.afterFirstAnswer && m.filter === view.filter) { const f = view.afterFirstAnswer; view.afterFirstAnswer = null; f(); }
    }
  }

  function send(obj) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(obj));
  }

  function connect() {
    socket = new WebSocket(`${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`);
    socket.addEventListener('open', () => { state.connected = true; reconnectDelay = 500; view.asked.clear(); renderCounters(); });
    socket.addEventListener('message', onMessage);
    socket.addEventListener('close', () => {
      state.connected = false;
      renderCounters();
      setTimeout(connect, reconnectDelay);
      reconnectDelay = Math.min(reconnectDelay * 2, 10000);
    });
  }

  // ------------------------------------------------------------------------------------------
  // controls

  function setPaused(p) {
    state.paused = p;
    const b = $('pause');
    b.textContent = p ? 'Resume' : 'Pause';
    b.classList.toggle('on', p);
    if (!p) {
      state.pendingWhilePaused = 0;
      scrollToBottom();
      renderWsConnections();
      renderWsMessages();
      renderTcpEvents(null);
      queuePlot();
    }
    tableFooter();
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('rows').addEventListener('click', (e) => {
      const tr = e.target.closest('tr');
      if (tr && tr.dataset.id) select(Number(tr.dataset.id));
    });
    $('filter').addEventListener('input', applyFilter);
    $('table-wrap').addEventListener('scroll', queueRender, { passive: true });
    window.addEventListener('resize', queueRender);
    $('pause').addEventListener('click', () => setPaused(!state.paused));
    $('detail-close').addEventListener('click', closeDetail);
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') closeDetail();
    });
    window.addEventListener('resize', queuePlot);
    tableFooter();
    queuePlot();
    connect();
  });
})();
