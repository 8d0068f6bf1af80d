/* The admin page (pure: an lb_stats snapshot in, one self-contained HTML document out).
 *
 * Everything is in the document: inline CSS, a little JavaScript, no external asset, so it
 * works offline and in an air-gapped network. The server renders the whole page; without
 * JavaScript it is a static table refreshed by <meta http-equiv=refresh> (inside <noscript>)
 * and the actions are plain forms. With JavaScript, the page fetches itself every 2 s and swaps
 * <main>, so one renderer (this file) serves both. The phase colours are the journey palette
 * (the client's waterfall phases: tls, request, queue, connect, server, transfer). */
#include "lb/core/dashboard.h"
#include "lb/core/textout.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define REFRESH_MS 2000


/* Text and attribute values: & < > " ' escaped, control bytes dropped. */
static void esc(lb_textout *o, const char *s) {
  for (; s && *s; s++) {
    switch (*s) {
    case '&':
      lb_puts(o, "&amp;");
      break;
    case '<':
      lb_puts(o, "&lt;");
      break;
    case '>':
      lb_puts(o, "&gt;");
      break;
    case '"':
      lb_puts(o, "&quot;");
      break;
    case '\'':
      lb_puts(o, "&#39;");
      break;
    default:
      if ((unsigned char)*s >= 0x20)
        lb_put(o, s, 1);
    }
  }
}

/* "1.234 ms" style durations: µs below 1 ms, then ms, then s. */
static void dur(lb_textout *o, uint64_t us) {
  if (us < 1000)
    lb_putf(o, "%llu&#8239;µs", (unsigned long long)us);
  else if (us < 10000000)
    lb_putf(o, "%.*f&#8239;ms", us < 100000 ? 2 : 0, (double)us / 1000.0);
  else
    lb_putf(o, "%.1f&#8239;s", (double)us / 1e6);
}

static void ago(lb_textout *o, uint64_t ms) {
  uint64_t s = ms / 1000;
  if (s < 60)
    lb_putf(o, "%llus", (unsigned long long)s);
  else if (s < 3600)
    lb_putf(o, "%llum&#8239;%02llus", (unsigned long long)(s / 60), (unsigned long long)(s % 60));
  else if (s < 86400)
    lb_putf(o, "%lluh&#8239;%02llum", (unsigned long long)(s / 3600),
         (unsigned long long)(s / 60 % 60));
  else
    lb_putf(o, "%llud&#8239;%02lluh", (unsigned long long)(s / 86400),
         (unsigned long long)(s / 3600 % 24));
}

static const char css[] =
    ":root{--up:#15803d;--down:#b91c1c;--drain:#b45309;--maint:#4b5563;--bg:#f6f7f9;--fg:#111827;"
    "--mut:#6b7280;--line:#e5e7eb;--card:#fff;--tls:#8b5cf6;--req:#0ea5e9;--queue:#f59e0b;"
    "--conn:#f97316;--srv:#22c55e;--xfer:#3b82f6;--idle:#9ca3af}"
    "*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,'Segoe UI',"
    "Roboto,sans-serif;background:var(--bg);color:var(--fg)}"
    "header{display:flex;flex-wrap:wrap;gap:8px 24px;align-items:baseline;padding:14px 24px;"
    "background:#111827;color:#f9fafb}header h1{font-size:20px;margin:0;letter-spacing:.3px}"
    "header .meta{color:#d1d5db}header .meta b{color:#fff}header form{margin-left:auto;display:"
    "flex;gap:6px}header input{font:inherit;padding:3px 8px;border-radius:6px;border:1px solid "
    "#374151;background:#1f2937;color:#f9fafb;width:19em}header button{font:inherit;padding:"
    "3px 10px;border-radius:6px;border:0;background:#374151;color:#fff;cursor:pointer}"
    "#upd{color:#9ca3af;font-size:12px}main{padding:8px 24px 32px}"
    "section{background:var(--card);border:1px solid var(--line);border-radius:10px;margin:16px "
    "0;padding:12px 16px;overflow-x:auto}h2{font-size:16px;margin:2px 0 10px}h2 small{font-weight:"
    "400;color:var(--mut);margin-left:8px}table{border-collapse:collapse;width:100%}"
    "th,td{padding:6px 7px;border-bottom:1px solid var(--line);text-align:right;white-space:"
    "nowrap;vertical-align:middle}th{font-size:12px;font-weight:600;color:var(--mut);"
    "text-transform:uppercase;letter-spacing:.4px}th:first-child,td:first-child,td.l,th.l{"
    "text-align:left}tr:last-child td{border-bottom:0}.addr,.sub{color:var(--mut);font-size:12px}"
    ".badge{display:inline-block;min-width:4.6em;text-align:center;padding:2px 8px;border-radius:"
    "999px;color:#fff;font-weight:700;font-size:12px;letter-spacing:.5px}.UP{background:var(--up)}"
    ".DOWN{background:var(--down)}.DRAIN{background:var(--drain)}.MAINT{background:var(--maint)}"
    ".REMOVED{background:#9ca3af}.strip{display:inline-flex;gap:2px}.strip i{width:8px;height:"
    "16px;border-radius:2px;background:var(--up)}.strip i.f{background:var(--down)}.strip i.n{"
    "background:var(--line)}.ok{color:var(--up)}.bad{color:var(--down)}.warn{color:var(--drain)}"
    ".acts form{display:inline}.acts button{font:inherit;font-size:11px;padding:1px 6px;margin-left"
    ":3px;border-radius:6px;border:1px solid var(--line);background:#fff;cursor:pointer}"
    ".acts button:hover{background:#f3f4f6}.mono{font-family:ui-monospace,SFMono-Regular,Menlo,"
    "Consolas,monospace;font-size:12px}.wf{position:relative;height:14px;min-width:260px;"
    "background:#f3f4f6;border-radius:3px;overflow:hidden;display:flex}.wf span{height:100%}"
    ".Th{background:var(--tls)}.TR{background:var(--req)}.Tw{background:var(--queue)}.Tc{"
    "background:var(--conn)}.Tr{background:var(--srv)}.Td{background:var(--xfer)}.Ti{background:"
    "var(--idle)}.legend{display:flex;flex-wrap:wrap;gap:14px;margin:0 0 8px;color:var(--mut);"
    "font-size:12px}.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;"
    "margin-right:5px;vertical-align:-1px}.s2{color:var(--up)}.s3{color:#0369a1}.s4{color:"
    "var(--drain)}.s5{color:var(--down)}.st{font-weight:700}.empty{color:var(--mut);padding:12px 0}"
    "td.wfc{width:40%;text-align:left}td.lc{max-width:15em;overflow:hidden;text-overflow:ellipsis}."
    "lock{"
    "color:var(--mut);font-size:12px}";

/* The phases in order, as class, label and the client's name for the same step. */
static const struct {
  const char *cls, *label;
} phases[] = {
    {"Th", "Th TLS handshake"},   {"TR", "TR request headers"},  {"Tw", "Tw queue"},
    {"Tc", "Tc backend connect"}, {"Tr", "Tr backend response"}, {"Td", "Td data to client"}};

static void server_row(lb_textout *o, const lb_stats_pool *pl, const lb_stats_server *v, int can_act) {
  lb_puts(o, "<tr class=srv data-pool=\"");
  esc(o, pl->name);
  lb_puts(o, "\" data-server=\"");
  esc(o, v->name);
  lb_puts(o, "\" data-state=\"");
  esc(o, v->state);
  lb_puts(o, "\"><td class=l><b>");
  esc(o, v->name);
  lb_puts(o, "</b><div class=addr>");
  esc(o, v->address);
  if (!strcmp(v->source, "dns"))
    lb_puts(o, " · DNS");
  lb_puts(o, "</div></td><td class=\"l state\"><span class=\"badge ");
  esc(o, v->state);
  lb_puts(o, "\">");
  esc(o, v->state);
  lb_puts(o, "</span>");
  if (v->ejected)
    lb_puts(o, " <span class=warn title=\"passive health check\">ejected</span>");
  lb_puts(o, "</td><td>");
  ago(o, v->since_ms);
  lb_puts(o, "</td><td class=\"l lc\">");
  if (v->last_check_age_ms == UINT64_MAX) {
    lb_puts(o, strcmp(v->health, "off") ? "<span class=sub>pending</span>"
                                      : "<span class=sub>checks off</span>");
  } else {
    size_t sl = strlen(v->strip);
    lb_puts(o, sl && v->strip[sl - 1] == '+' ? "<div class=ok>" : "<div class=bad>");
    esc(o, v->last_check);
    lb_puts(o, "</div><div class=sub>");
    dur(o, v->last_check_us);
    lb_puts(o, " · ");
    ago(o, v->last_check_age_ms);
    lb_puts(o, " ago</div>");
  }
  lb_puts(o, "</td><td><span class=strip title=\"last 10 checks, newest on the right\">");
  size_t n = strlen(v->strip);
  for (size_t k = n; k < 10; k++)
    lb_puts(o, "<i class=n></i>");
  for (size_t k = 0; k < n; k++)
    lb_puts(o, v->strip[k] == '+' ? "<i></i>" : "<i class=f></i>");
  lb_putf(o, "</span></td><td>%d</td><td>%llu</td><td>%llu</td>", v->weight,
       (unsigned long long)v->active, (unsigned long long)v->requests);
  uint64_t c4 = lb_stats_class(v, 4), c5 = lb_stats_class(v, 5);
  lb_putf(o, "<td class=l><span class=%s>%llu</span>&thinsp;/&thinsp;<span class=%s>%llu</span>",
       c4 ? "warn" : "sub", (unsigned long long)c4, c5 ? "bad" : "sub", (unsigned long long)c5);
  if (v->err_connect || v->err_timeout || v->err_reset)
    lb_putf(o, "<div class=bad>connect %llu · timeout %llu · reset %llu</div>",
         (unsigned long long)v->err_connect, (unsigned long long)v->err_timeout,
         (unsigned long long)v->err_reset);
  lb_puts(o, "</td>");
  lb_putf(o, "<td>%llu</td><td>%llu</td>", (unsigned long long)v->retries,
       (unsigned long long)v->ejections);
  for (int k = 0; k < 3; k++) {
    lb_puts(o, "<td>");
    if (!v->lat_count[k]) {
      lb_puts(o, "<span class=sub>–</span>");
    } else {
      dur(o, v->lat_p50_us[k]);
      lb_puts(o, "<div class=sub>p99 ");
      dur(o, v->lat_p99_us[k]);
      lb_puts(o, "</div>");
    }
    lb_puts(o, "</td>");
  }
  if (can_act) {
    lb_puts(o, "<td class=acts>");
    static const char *const acts[3] = {"drain", "disable", "enable"};
    for (int k = 0; k < 3; k++) {
      lb_puts(o, "<form method=post action=\"/servers/");
      esc(o, v->name);
      lb_putf(o, "/%s\"><button data-act=%s data-srv=\"", acts[k], acts[k]);
      esc(o, v->name);
      lb_putf(o, "\">%s</button></form>", acts[k]);
    }
    lb_puts(o, "</td>");
  }
  lb_puts(o, "</tr>");
}

static void pool_section(lb_textout *o, const lb_stats_pool *pl, int can_act) {
  int up = 0;
  for (int i = 0; i < pl->nservers; i++)
    up += !strcmp(pl->servers[i].state, "UP");
  lb_puts(o, "<section class=pool data-pool=\"");
  esc(o, pl->name);
  lb_puts(o, "\"><h2>pool ");
  esc(o, pl->name);
  lb_putf(o, " <small><span class=%s>%d of %d UP</span> · ", up ? "ok" : "bad", up, pl->nservers);
  esc(o, pl->algorithm);
  if (pl->hash_key) {
    lb_puts(o, " on ");
    esc(o, pl->hash_key);
  }
  lb_puts(o, " · checks: ");
  esc(o, pl->check);
  if (pl->no_server)
    lb_putf(o, " · <span class=bad>%llu answered 503 (no server UP)</span>",
         (unsigned long long)pl->no_server);
  lb_puts(o, "</small></h2><table><thead><tr><th>server</th><th class=l>state</th><th>since</th>"
           "<th class=l>last check</th><th>checks</th><th>weight</th><th>in flight</th>"
           "<th>requests</th><th class=l>4xx&thinsp;/&thinsp;5xx</th><th>retries</th>"
           "<th>ejections</th><th title=\"last minute: p50, p99\">connect</th>"
           "<th title=\"last minute: p50, p99\">response headers</th>"
           "<th title=\"last minute: p50, p99\">total</th>");
  if (can_act)
    lb_puts(o, "<th>actions</th>");
  lb_puts(o, "</tr></thead><tbody>");
  for (int i = 0; i < pl->nservers; i++)
    server_row(o, pl, &pl->servers[i], can_act);
  if (!pl->nservers)
    lb_putf(o,
         "<tr><td colspan=%d class=empty>no server (DNS discovery has not answered yet)"
         "</td></tr>",
         can_act ? 15 : 14);
  lb_puts(o, "</tbody></table></section>");
}

static void request_row(lb_textout *o, const lb_stats_request *r, uint64_t scale) {
  time_t t = (time_t)(r->ended_unix_ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  lb_putf(o, "<tr class=req data-id=\"");
  esc(o, r->id);
  lb_putf(o, "\"><td class=mono>%02d:%02d:%02d.%03u</td><td class=\"l mono\">", tm.tm_hour, tm.tm_min,
       tm.tm_sec, (unsigned)(r->ended_unix_ms % 1000));
  if (r->id[0]) {
    lb_puts(o, "<a href=\"/?id=");
    esc(o, r->id);
    lb_puts(o, "\">");
    esc(o, r->id);
    lb_puts(o, "</a>");
  } else {
    lb_puts(o, "<span class=sub>–</span>");
  }
  lb_puts(o, "</td><td class=l>");
  esc(o, r->method);
  lb_puts(o, " ");
  esc(o, r->path);
  if (r->proto && r->proto[0]) { /* which protocol the client spoke: h2 or http/1.1 */
    lb_puts(o, " <span class=sub>");
    esc(o, r->proto);
    lb_puts(o, "</span>");
  }
  lb_putf(o, "</td><td class=\"st s%d\">%d</td><td class=l>", r->status / 100, r->status);
  if (r->server[0])
    esc(o, r->server);
  else
    lb_puts(o, "<span class=sub>journey-lb</span>");
  if (r->retries)
    lb_putf(o, " <span class=warn>(%d retr%s)</span>", r->retries, r->retries == 1 ? "y" : "ies");
  const int64_t v[6] = {r->Th, r->TR, r->Tw, r->Tc, r->Tr, r->Td};
  lb_puts(o, "</td><td class=wfc><div class=wf title=\"");
  for (int k = 0; k < 6; k++) {
    lb_puts(o, k ? ", " : "");
    lb_puts(o, phases[k].cls);
    if (v[k] < 0)
      lb_puts(o, " -");
    else
      lb_putf(o, " %.3f ms", (double)v[k] / 1000.0);
  }
  lb_puts(o, "\">");
  for (int k = 0; k < 6; k++)
    if (v[k] > 0)
      lb_putf(o, "<span class=%s style=\"width:%.2f%%;min-width:2px\"></span>", phases[k].cls,
           100.0 * (double)v[k] / (double)scale);
  lb_puts(o, "</div><div class=sub>");
  static const char *const names[6] = {"Th", "TR", "Tw", "Tc", "Tr", "Td"};
  for (int k = 0; k < 6; k++) {
    lb_putf(o, "%s%s ", k ? " · " : "", names[k]);
    if (v[k] < 0)
      lb_puts(o, "–");
    else
      lb_putf(o, "%.3f", (double)v[k] / 1000.0);
  }
  lb_puts(o, " ms · Ti ");
  if (r->Ti < 0)
    lb_puts(o, "–");
  else
    lb_putf(o, "%.3f", (double)r->Ti / 1000.0);
  lb_puts(o, "</div></td><td>");
  dur(o, r->Tt > 0 ? (uint64_t)r->Tt : 0);
  lb_puts(o, "</td></tr>");
}

static void recent_section(lb_textout *o, const lb_stats *s, const char *filter_id) {
  lb_puts(o, "<section id=recent><h2>recent requests <small>");
  if (filter_id && filter_id[0]) {
    lb_puts(o, "request id ");
    esc(o, filter_id);
    lb_putf(o, ": %d found · <a href=\"/\">all</a>", s->nrecent);
  } else {
    lb_putf(o,
         "the last %d, newest first · bar: the load balancer's part of each request, to "
         "scale across rows",
         s->nrecent);
  }
  lb_puts(o, "</small></h2><div class=legend>");
  for (size_t k = 0; k < sizeof phases / sizeof *phases; k++)
    lb_putf(o, "<span><i class=%s></i>%s</span>", phases[k].cls, phases[k].label);
  lb_puts(o, "<span>Ti: idle before the request (not drawn)</span></div>");
  if (!s->nrecent) {
    lb_puts(o, filter_id && filter_id[0]
                 ? "<p class=empty>no recent request has this id (only the last requests are "
                   "kept; the access log has them all)</p></section>"
                 : "<p class=empty>no request yet</p></section>");
    return;
  }
  uint64_t scale = 1;
  for (int i = 0; i < s->nrecent; i++) {
    const lb_stats_request *r = &s->recent[i];
    int64_t sum = (r->Th > 0 ? r->Th : 0) + (r->TR > 0 ? r->TR : 0) + (r->Tw > 0 ? r->Tw : 0) +
                  (r->Tc > 0 ? r->Tc : 0) + (r->Tr > 0 ? r->Tr : 0) + (r->Td > 0 ? r->Td : 0);
    if ((uint64_t)sum > scale)
      scale = (uint64_t)sum;
  }
  lb_puts(o, "<table class=reqs><thead><tr><th class=l>ended (UTC)</th><th class=l>request id"
           "</th><th class=l>request</th><th>status</th><th class=l>backend</th><th class=l>"
           "phases</th><th>total</th></tr></thead><tbody>");
  for (int i = 0; i < s->nrecent; i++)
    request_row(o, &s->recent[i], scale);
  lb_puts(o, "</tbody></table></section>");
}

static const char script[] =
    "(function(){var R="
    "2000"
    ",T=sessionStorage.getItem('jlb-token')||'';"
    "function H(){return T?{'Authorization':'Bearer '+T}:{}}"
    "function up(m){document.getElementById('upd').textContent=m}"
    "function refresh(){fetch(location.pathname+location.search,{headers:H(),cache:'no-store'})"
    ".then(function(r){if(r.status==401){T='';sessionStorage.removeItem('jlb-token')}"
    "return r.text()}).then(function(t){var d=new DOMParser().parseFromString(t,'text/html');"
    "['meta','lockbox','main'].forEach(function(i){var n=d.getElementById(i),o=document."
    "getElementById(i);if(n&&o)o.replaceWith(n)});"
    "up('updated '+new Date().toLocaleTimeString()+' · every '+R/1000+' s')})"
    ".catch(function(){up('refresh failed: retrying')})}"
    "document.addEventListener('click',function(e){var b=e.target.closest('button[data-act]');"
    "if(!b)return;e.preventDefault();b.disabled=true;fetch('/servers/'+encodeURIComponent("
    "b.dataset.srv)+'/'+b.dataset.act,{method:'POST',headers:H()}).then(function(r){if(!r.ok)"
    "return r.text().then(function(t){up(t)})}).then(refresh)});"
    "document.addEventListener('submit',function(e){if(e.target.id!='unlock')return;"
    "e.preventDefault();T=e.target.elements.token.value.trim();sessionStorage.setItem("
    "'jlb-token',T);refresh()});setInterval(refresh,R);if(T)refresh();"
    "up('updated '+new Date().toLocaleTimeString()+' · every '+R/1000+' s')})();";

int lb_dashboard_html(const lb_stats *s, const char *filter_id, int can_act, int want_token,
                      jc_buf *b) {
  lb_textout o = {b, 0};
  int up = 0, total = 0;
  for (int p = 0; p < s->npools; p++)
    for (int i = 0; i < s->pools[p].nservers; i++, total++)
      up += !strcmp(s->pools[p].servers[i].state, "UP");
  lb_puts(&o, "<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport "
            "content=\"width=device-width,initial-scale=1\"><title>journey-lb</title>");
  lb_putf(&o, "<noscript><meta http-equiv=refresh content=%d></noscript><style>",
       REFRESH_MS / 1000 * 3);
  lb_puts(&o, css);
  lb_puts(&o, "</style></head><body><header><h1>journey-lb</h1><span class=meta id=meta>");
  esc(&o, s->version);
  lb_puts(&o, " · up ");
  ago(&o, s->uptime_s * 1000);
  lb_putf(&o, " · <b>%llu</b> client connections", (unsigned long long)s->connections_active);
  if (s->h2_conns_open)
    lb_putf(&o, " (<b>%llu</b> HTTP/2, <b>%llu</b> streams)", (unsigned long long)s->h2_conns_open,
            (unsigned long long)s->h2_streams_open);
  lb_putf(&o, " · <b>%d of %d</b> servers UP%s</span>", up, total,
       s->draining ? " · <span class=badge style=\"background:#b45309\">DRAINING</span>" : "");
  lb_puts(&o, "<span id=upd>static page (refreshes every 6 s)</span>"
            "<form method=get action=\"/\"><input name=id placeholder=\"look up a request id\" "
            "aria-label=\"request id\" value=\"");
  esc(&o, filter_id);
  lb_puts(&o, "\"><button>find</button></form></header>");
  lb_puts(&o, "<div id=lockbox>");
  if (want_token)
    lb_puts(&o, "<form id=unlock style=\"padding:8px 24px 0\" class=lock>server actions need the "
              "admin token: <input name=token type=password autocomplete=off size=30> "
              "<button>unlock</button> (kept in this tab only)</form>");
  lb_puts(&o, "</div><main id=main>");
  for (int p = 0; p < s->npools; p++)
    pool_section(&o, &s->pools[p], can_act);
  recent_section(&o, s, filter_id);
  lb_puts(&o, "</main><script>");
  lb_puts(&o, script);
  lb_puts(&o, "</script></body></html>\n");
  return o.failed ? -1 : 0;
}
