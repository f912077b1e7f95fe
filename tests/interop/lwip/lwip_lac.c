/*
 * lwip_lac: an independent PPP client for interop tests — lwIP's userspace PPP (LCP, PAP,
 * CHAP-MD5, MS-CHAPv2, IPCP, IP6CP) on a TAP interface, carried either by lwIP's PPPoL2TP
 * (an L2TP LAC, the default) or by lwIP's PPPoE client (--pppoe, RFC 2516).
 *
 *   lwip_lac --tap IF --addr A.B.C.D/LEN [--gw G] [--mac M] --lns IP [--port 1701]
 *            [--secret S] [--user U --password P] [--auth pap,chap,mschapv2]
 *            [--ping TARGET --count N --interval MS --ping-timeout MS]
 *            [--up-timeout S] [--ncp-wait MS] [--hold S]
 *   lwip_lac --pppoe --tap IF [--mac M] [--vlan N] [--service NAME] [--ac NAME]
 *            [--user U --password P] [--auth ...] [--ping ...] [--up-timeout S] [--hold S]
 *
 * The TAP interface IF must exist (ip tuntap add IF mode tap) or be creatable. In L2TP mode
 * lwIP owns the address A.B.C.D on it (the kernel has none). In PPPoE mode the TAP carries
 * Ethernet only (no address); --vlan N tags what lwIP sends with 802.1Q VLAN N and passes up
 * only frames of VLAN N (untagged frames and other VLANs are dropped and counted); without
 * --vlan tagged frames are dropped. The MAC defaults to 02:4c:<the IPv4 address> (L2TP) or
 * 02:50:<a hash of IF> (PPPoE). Machine-readable lines on stdout:
 *   phase NAME                                   PPP phase changes (establish = the L2TP
 *                                                session is up, or PPPoE's PADS came, and
 *                                                LCP started)
 *   pppoe pado ac=NAME mac=M service=S           (PPPoE) an offer (names %-escaped)
 *   pppoe session id=N ac=NAME mac=M             (PPPoE) the PADS gave session N; ac is the
 *                                                AC-Name of that AC's PADO
 *   pppoe pads-error id=N tag=NAME text=T        (PPPoE) a PADS refused the request
 *   pppoe padt received session=N mac=M [tag=NAME text=T]   (PPPoE) the AC ended session N;
 *                                                lwIP itself ignores PADT: LCP echo (every
 *                                                5 s, 3 misses) takes the link down
 *   pppoe padt sent session=N                    (PPPoE) lwIP ended the session
 *   ppp up local=A peer=B dns=D1,D2 ip6=LL|none  IPCP and/or IP6CP up (after the first
 *                                                NCP is up, waits --ncp-wait ms for the
 *                                                other; "none" where one did not come up)
 *   ping ok seq=N rtt_ms=X | ping timeout seq=N  ICMP echo through the PPP link
 *   xping ok seq=N target=T rtt_ms=X | xping timeout seq=N target=T
 *                                                --xping T: after the pings, --xcount pings
 *                                                to T that may well go unanswered (e.g. an
 *                                                address in another VR): not in the exit status
 *   ppp down reason=NAME code=N                  the link went down (not by us)
 *   ppp closed                                   our own close finished
 *   done up=0|1 pings_ok=K pings=N down=NAME|none [vlan_drops=K] [xpings_ok=K]
 * Exit status: 0 up and every ping answered; 1 up but K < N pings answered, or the link went
 * down before the pings were done; 2 never up; 64 bad arguments or setup error.
 * Diagnostics (lwIP's PPP debug) go to stderr.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lwip/init.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/raw.h"
#include "lwip/icmp.h"
#include "lwip/inet_chksum.h"
#include "lwip/ip4.h"
#include "lwip/prot/ip4.h"
#include "lwip/timeouts.h"
#include "lwip/etharp.h"
#include "lwip/ethip6.h"
#include "netif/ethernet.h"
#include "netif/ppp/ppp.h"
#include "netif/ppp/pppol2tp.h"
#include "netif/ppp/pppoe.h"

static FILE *out;                 /* machine-readable lines (the real stdout) */
static volatile sig_atomic_t stop_requested;

static void emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void emit(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(out, fmt, ap);
  va_end(ap);
  fputc('\n', out);
  fflush(out);
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/* ---- a TAP netif ---------------------------------------------------------------------- */
static int tap_fd = -1;
static int tap_vlan = -1;          /* 802.1Q VLAN id to tag/untag (PPPoE mode), -1 = untagged */
static unsigned long vlan_drops;   /* frames dropped for their (missing/other) VLAN tag */
static u8_t tap_mac[6];

#define ETH_HLEN_ 14
#define VLAN_HLEN_ 4

static void pppoe_sniff(const u8_t *f, size_t n, int outgoing);

static err_t tap_linkoutput(struct netif *nif, struct pbuf *p) {
  unsigned char buf[2048];
  LWIP_UNUSED_ARG(nif);
  if (p->tot_len < ETH_HLEN_ || (size_t)p->tot_len + VLAN_HLEN_ > sizeof buf) return ERR_BUF;
  /* The untagged frame at buf + 4, so that a tag fits in front of its type. */
  unsigned char *f = buf + VLAN_HLEN_;
  size_t n = pbuf_copy_partial(p, f, p->tot_len, 0);
  /* A NIC pads to the 60-byte minimum; lwIP does not (a PADT would be 20 bytes). Padding
   * makes the peer rely on the PPPoE LENGTH field, as it must with real CPEs. */
  if (n < 60) { memset(f + n, 0, 60 - n); n = 60; }
  pppoe_sniff(f, n, 1);
  if (tap_vlan >= 0) {
    /* dst, src | 0x8100, TCI (priority 0, VLAN id) | the original type and payload */
    memmove(buf, f, 12);
    buf[12] = 0x81; buf[13] = 0x00;
    buf[14] = (unsigned char)(tap_vlan >> 8); buf[15] = (unsigned char)tap_vlan;
    f = buf;
    n += VLAN_HLEN_;
  }
  if (write(tap_fd, f, n) != (ssize_t)n) return ERR_IF;
  return ERR_OK;
}

static err_t tap_netif_init(struct netif *nif) {
  nif->name[0] = 't';
  nif->name[1] = 'p';
  nif->output = etharp_output;
  nif->output_ip6 = ethip6_output;
  nif->linkoutput = tap_linkoutput;
  nif->mtu = 1500;
  nif->hwaddr_len = 6;
  memcpy(nif->hwaddr, tap_mac, 6);
  nif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET | NETIF_FLAG_LINK_UP;
  return ERR_OK;
}

static int tap_open(const char *name) {
  struct ifreq ifr;
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) { perror("open /dev/net/tun"); return -1; }
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) { perror("TUNSETIFF"); close(fd); return -1; }
  /* Bring the kernel side up (the script may have done it already). */
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  if (s >= 0) {
    if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
      ifr.ifr_flags |= IFF_UP;
      if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) perror("SIOCSIFFLAGS");
    }
    close(s);
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

static void tap_poll(struct netif *nif) {
  unsigned char buf[2048];
  for (;;) {
    ssize_t r = read(tap_fd, buf, sizeof buf);
    if (r <= 0) return;
    size_t n = (size_t)r;
    unsigned char *f = buf;
    if (n < ETH_HLEN_) continue;
    int tagged = buf[12] == 0x81 && buf[13] == 0x00;
    if (tap_vlan >= 0) {
      /* Only frames of our VLAN, untagged for lwIP: move dst+src over the tag. */
      if (!tagged || n < ETH_HLEN_ + VLAN_HLEN_ || (((buf[14] << 8) | buf[15]) & 0x0fff) != tap_vlan) {
        vlan_drops++;
        continue;
      }
      memmove(buf + VLAN_HLEN_, buf, 12);
      f = buf + VLAN_HLEN_;
      n -= VLAN_HLEN_;
    } else if (tagged) {
      vlan_drops++;
      continue;
    }
    pppoe_sniff(f, n, 0);
    struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)n, PBUF_POOL);
    if (!p) return;
    pbuf_take(p, f, (u16_t)n);
    if (nif->input(p, nif) != ERR_OK) pbuf_free(p);
  }
}

/* ---- PPPoE discovery, as seen on the wire --------------------------------------------------
 * lwIP keeps no AC-Name and ignores PADT, so the harness reads the discovery frames itself
 * (untagged view, every length checked) and reports them. */
#define PPPOE_MAX_ACS 8
static struct { u8_t mac[6]; char name[200]; } pado_seen[PPPOE_MAX_ACS];
static int pado_n;
static int pppoe_mode;
static unsigned pppoe_session_id;   /* from our PADS, 0 = none */

/* Printable, no spaces: anything else as %XX. */
static void esc(char *o, size_t osz, const u8_t *s, size_t n) {
  size_t j = 0;
  for (size_t i = 0; i < n && j + 4 < osz; i++) {
    if (s[i] > 0x20 && s[i] < 0x7f && s[i] != '%') o[j++] = (char)s[i];
    else j += (size_t)snprintf(o + j, osz - j, "%%%02X", s[i]);
  }
  o[j] = 0;
}

static void fmt_mac(char *o, const u8_t *m) {
  sprintf(o, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

/* Finds tag T in the discovery payload; returns its value or NULL. */
static const u8_t *pppoe_tag(const u8_t *pl, size_t len, u16_t t, size_t *tl) {
  size_t off = 0;
  while (off + 4 <= len) {
    u16_t tag = (u16_t)((pl[off] << 8) | pl[off + 1]);
    size_t l = (size_t)((pl[off + 2] << 8) | pl[off + 3]);
    if (off + 4 + l > len) return NULL;
    if (tag == t) { *tl = l; return pl + off + 4; }
    if (tag == 0) return NULL; /* End-Of-List */
    off += 4 + l;
  }
  return NULL;
}

static void pppoe_error_tags(char *o, size_t osz, const u8_t *pl, size_t len) {
  static const struct { u16_t t; const char *n; } errs[] = {
      {0x0201, "service-name-error"}, {0x0202, "ac-system-error"}, {0x0203, "generic-error"}};
  o[0] = 0;
  for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
    size_t tl;
    const u8_t *v = pppoe_tag(pl, len, errs[i].t, &tl);
    if (v) {
      char text[200];
      esc(text, sizeof text, v, tl);
      snprintf(o, osz, " tag=%s text=%s", errs[i].n, text);
      return;
    }
  }
}

static void pppoe_sniff(const u8_t *f, size_t n, int outgoing) {
  if (!pppoe_mode || n < ETH_HLEN_ + 6 || f[12] != 0x88 || f[13] != 0x63) return;
  const u8_t *h = f + ETH_HLEN_;
  u8_t code = h[1];
  unsigned sid = (unsigned)((h[2] << 8) | h[3]);
  size_t len = (size_t)((h[4] << 8) | h[5]);
  if (len > n - ETH_HLEN_ - 6) len = n - ETH_HLEN_ - 6; /* report what is there */
  const u8_t *pl = h + 6;
  char mac[18], name[200] = "", extra[260];
  fmt_mac(mac, outgoing ? f : f + 6);
  if (outgoing) {
    if (code == 0xa7) emit("pppoe padt sent session=%u", sid);
    return;
  }
  if (memcmp(f, tap_mac, 6) != 0) return; /* discovery for another host on the segment */
  size_t tl;
  const u8_t *v;
  switch (code) {
  case 0x07: /* PADO */ {
    char svc[200] = "";
    if ((v = pppoe_tag(pl, len, 0x0102, &tl))) esc(name, sizeof name, v, tl);
    if ((v = pppoe_tag(pl, len, 0x0101, &tl))) esc(svc, sizeof svc, v, tl);
    emit("pppoe pado ac=%s mac=%s service=%s", name, mac, svc);
    int k;
    for (k = 0; k < pado_n && memcmp(pado_seen[k].mac, f + 6, 6); k++) {}
    if (k == pado_n && pado_n < PPPOE_MAX_ACS) pado_n++;
    if (k < PPPOE_MAX_ACS) {
      memcpy(pado_seen[k].mac, f + 6, 6);
      snprintf(pado_seen[k].name, sizeof pado_seen[k].name, "%s", name);
    }
    break;
  }
  case 0x65: /* PADS */
    if (sid == 0) {
      pppoe_error_tags(extra, sizeof extra, pl, len);
      emit("pppoe pads-error id=0 mac=%s%s", mac, extra);
      break;
    }
    for (int k = 0; k < pado_n; k++)
      if (!memcmp(pado_seen[k].mac, f + 6, 6)) snprintf(name, sizeof name, "%s", pado_seen[k].name);
    pppoe_session_id = sid;
    emit("pppoe session id=%u ac=%s mac=%s", sid, name, mac);
    break;
  case 0xa7: /* PADT */
    pppoe_error_tags(extra, sizeof extra, pl, len);
    emit("pppoe padt received session=%u mac=%s%s", sid, mac, extra);
    break;
  default:
    break;
  }
}

/* ---- PPP state -------------------------------------------------------------------------- */
static ppp_pcb *ppp;
static struct netif pppif;
static int ppp_is_up;        /* IPCP (or IP6CP) up */
static int ppp_ever_up;
static int ppp_last_err = -1; /* last non-NONE err code reported */
static int ppp_dead;         /* the PPP pcb reached the dead phase after an error/close */
static int closing;          /* we asked for the close */

static const char *err_name(int e) {
  switch (e) {
  case PPPERR_NONE: return "none";
  case PPPERR_PARAM: return "param";
  case PPPERR_OPEN: return "open";
  case PPPERR_DEVICE: return "device";
  case PPPERR_ALLOC: return "alloc";
  case PPPERR_USER: return "user";
  case PPPERR_CONNECT: return "connect";
  case PPPERR_AUTHFAIL: return "authfail";
  case PPPERR_PROTOCOL: return "protocol";
  case PPPERR_PEERDEAD: return "peerdead";
  case PPPERR_IDLETIMEOUT: return "idletimeout";
  case PPPERR_CONNECTTIME: return "connecttime";
  case PPPERR_LOOPBACK: return "loopback";
  default: return "unknown";
  }
}

static const char *phase_name(u8_t ph) {
  switch (ph) {
  case PPP_PHASE_DEAD: return "dead";
  case PPP_PHASE_MASTER: return "master";
  case PPP_PHASE_HOLDOFF: return "holdoff";
  case PPP_PHASE_INITIALIZE: return "initialize";
  case PPP_PHASE_SERIALCONN: return "serialconn";
  case PPP_PHASE_DORMANT: return "dormant";
  case PPP_PHASE_ESTABLISH: return "establish";
  case PPP_PHASE_AUTHENTICATE: return "authenticate";
  case PPP_PHASE_CALLBACK: return "callback";
  case PPP_PHASE_NETWORK: return "network";
  case PPP_PHASE_RUNNING: return "running";
  case PPP_PHASE_TERMINATE: return "terminate";
  case PPP_PHASE_DISCONNECT: return "disconnect";
  default: return "unknown";
  }
}

static void on_phase(ppp_pcb *pcb, u8_t phase, void *ctx) {
  LWIP_UNUSED_ARG(pcb);
  LWIP_UNUSED_ARG(ctx);
  emit("phase %s", phase_name(phase));
}

static void on_link_status(ppp_pcb *pcb, int err, void *ctx) {
  LWIP_UNUSED_ARG(pcb);
  LWIP_UNUSED_ARG(ctx);
  if (err == PPPERR_NONE) {
    ppp_is_up = 1;
    ppp_ever_up = 1;
    return;
  }
  ppp_is_up = 0;
  ppp_last_err = err;
  ppp_dead = 1;
  /* A close we asked for reports PPPERR_USER; anything else is the peer's (or a failure). */
  if (!(closing && err == PPPERR_USER)) emit("ppp down reason=%s code=%d", err_name(err), err);
}

/* ---- ICMP echo through the PPP link --------------------------------------------------- */
#define PING_ID 0x7a11
static u16_t ping_seq_wait;    /* seq we wait for; 0 = none */
static int ping_got;

static u8_t ping_recv(void *arg, struct raw_pcb *pcb, struct pbuf *p, const ip_addr_t *addr) {
  LWIP_UNUSED_ARG(arg);
  LWIP_UNUSED_ARG(pcb);
  LWIP_UNUSED_ARG(addr);
  struct icmp_echo_hdr eh;
  if (p->tot_len < IP_HLEN) return 0;
  u8_t vhl;
  pbuf_copy_partial(p, &vhl, 1, 0);
  u16_t hl = (u16_t)((vhl & 0x0f) * 4);
  if (p->tot_len < hl + sizeof eh) return 0;
  pbuf_copy_partial(p, &eh, sizeof eh, hl);
  if (eh.type == ICMP_ER && eh.id == lwip_htons(PING_ID) && ping_seq_wait &&
      eh.seqno == lwip_htons(ping_seq_wait)) {
    ping_got = 1;
    pbuf_free(p);
    return 1;
  }
  return 0;
}

static int ping_send(struct raw_pcb *pcb, const ip_addr_t *dst, u16_t seq) {
  const u16_t datalen = 32;
  struct pbuf *p = pbuf_alloc(PBUF_IP, sizeof(struct icmp_echo_hdr) + datalen, PBUF_RAM);
  if (!p) return -1;
  struct icmp_echo_hdr *eh = (struct icmp_echo_hdr *)p->payload;
  ICMPH_TYPE_SET(eh, ICMP_ECHO);
  ICMPH_CODE_SET(eh, 0);
  eh->id = lwip_htons(PING_ID);
  eh->seqno = lwip_htons(seq);
  eh->chksum = 0;
  for (u16_t i = 0; i < datalen; i++) ((u8_t *)p->payload)[sizeof *eh + i] = (u8_t)('a' + i % 26);
  eh->chksum = inet_chksum(eh, p->len);
  err_t e = raw_sendto_if_src(pcb, p, dst, &pppif, netif_ip_addr4(&pppif));
  pbuf_free(p);
  return e == ERR_OK ? 0 : -1;
}

/* ---- main loop helpers ---------------------------------------------------------------- */
static struct netif tapif;

static void run_for(double ms, int (*until)(void)) {
  double end = now_ms() + ms;
  while (!stop_requested && now_ms() < end) {
    if (until && until()) return;
    fd_set rf;
    FD_ZERO(&rf);
    FD_SET(tap_fd, &rf);
    struct timeval tv = {0, 10000};
    if (select(tap_fd + 1, &rf, NULL, NULL, &tv) > 0) tap_poll(&tapif);
    sys_check_timeouts();
  }
}


static int cond_up_or_dead(void) { return ppp_is_up || ppp_dead; }
static int cond_dead(void) { return ppp_dead; }
static int cond_ping(void) { return ping_got || ppp_dead; }
static int have_ip4(void) { return !ip4_addr_isany(netif_ip4_addr(&pppif)); }
static int have_ip6(void) { return ip6_addr_isvalid(netif_ip6_addr_state(&pppif, 0)); }
/* IPCP and IP6CP each report "up" through the same callback: wait for the other one. */
static int cond_both_ncps(void) { return ppp_dead || (have_ip4() && have_ip6()); }

static void on_signal(int sig) { LWIP_UNUSED_ARG(sig); stop_requested = 1; }

static void usage(void) {
  fprintf(stderr,
          "usage: lwip_lac --tap IF --addr A.B.C.D/LEN [--gw G] [--mac 02:..] --lns IP [--port 1701]\n"
          "       [--secret S] [--user U] [--password P] [--auth pap,chap,mschapv2|any|none]\n"
          "       [--ping TARGET] [--count N] [--interval MS] [--ping-timeout MS]\n"
          "       [--up-timeout S] [--ncp-wait MS] [--hold S]\n"
          "       lwip_lac --pppoe --tap IF [--mac 02:..] [--vlan N] [--service NAME] [--ac NAME]\n"
          "       [--user U] [--password P] [--auth ...] [--ping TARGET ...] [--up-timeout S] [--hold S]\n"
          "       (both) [--xping TARGET --xcount N]: extra pings, not in the exit status\n");
  exit(64);
}

static int parse_mac(const char *s, u8_t m[6]) {
  unsigned v[6];
  if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) return -1;
  for (int i = 0; i < 6; i++) m[i] = (u8_t)v[i];
  return 0;
}

int main(int argc, char **argv) {
  const char *tap = NULL, *addr = NULL, *gw = NULL, *mac = NULL, *lns = NULL, *secret = NULL;
  const char *user = "", *password = "", *auth = "any", *target = NULL;
  /* lwIP strlen()s both names (PPPOE_SCNAME_SUPPORT): "" not NULL. "" sends an empty
   * Service-Name (any service) and an empty AC-Name tag. */
  const char *service = "", *acname = "";
  const char *xtarget = NULL;
  int xcount = 3;
  int port = 1701, count = 3, interval_ms = 1000, ping_timeout_ms = 2000;
  int up_timeout = 20, ncp_wait_ms = 2000, hold = 0;
  static const struct option opts[] = {
      {"tap", 1, 0, 't'},      {"addr", 1, 0, 'a'},     {"gw", 1, 0, 'g'},
      {"mac", 1, 0, 'm'},      {"lns", 1, 0, 'l'},      {"port", 1, 0, 'P'},
      {"secret", 1, 0, 's'},   {"user", 1, 0, 'u'},     {"password", 1, 0, 'p'},
      {"auth", 1, 0, 'A'},     {"ping", 1, 0, 'i'},     {"count", 1, 0, 'c'},
      {"interval", 1, 0, 'I'}, {"ping-timeout", 1, 0, 'T'}, {"up-timeout", 1, 0, 'U'},
      {"ncp-wait", 1, 0, '6'}, {"hold", 1, 0, 'H'},     {"help", 0, 0, 'h'},
      {"pppoe", 0, 0, 'E'},    {"vlan", 1, 0, 'V'},     {"service", 1, 0, 'S'},
      {"ac", 1, 0, 'C'},       {"xping", 1, 0, 'x'},    {"xcount", 1, 0, 'X'},
      {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 't': tap = optarg; break;
    case 'a': addr = optarg; break;
    case 'g': gw = optarg; break;
    case 'm': mac = optarg; break;
    case 'l': lns = optarg; break;
    case 'P': port = atoi(optarg); break;
    case 's': secret = optarg; break;
    case 'u': user = optarg; break;
    case 'p': password = optarg; break;
    case 'A': auth = optarg; break;
    case 'i': target = optarg; break;
    case 'c': count = atoi(optarg); break;
    case 'I': interval_ms = atoi(optarg); break;
    case 'T': ping_timeout_ms = atoi(optarg); break;
    case 'U': up_timeout = atoi(optarg); break;
    case '6': ncp_wait_ms = atoi(optarg); break;
    case 'H': hold = atoi(optarg); break;
    case 'E': pppoe_mode = 1; break;
    case 'V': tap_vlan = atoi(optarg); if (tap_vlan < 1 || tap_vlan > 4094) usage(); break;
    case 'S': service = optarg; break;
    case 'C': acname = optarg; break;
    case 'x': xtarget = optarg; break;
    case 'X': xcount = atoi(optarg); break;
    default: usage();
    }
  }
  if (!tap || optind != argc) usage();
  if (pppoe_mode ? !!lns : (!addr || !lns)) usage();
  if (tap_vlan >= 0 && !pppoe_mode) usage();

  /* Our lines go to the real stdout; lwIP's printf diagnostics to stderr. */
  int fd1 = dup(1);
  out = fdopen(fd1, "w");
  dup2(2, 1);
  if (!out) return 64;

  char abuf[64];
  snprintf(abuf, sizeof abuf, "%s", addr ? addr : "0.0.0.0/0");
  char *slash = strchr(abuf, '/');
  int plen = 24;
  if (slash) { *slash = 0; plen = atoi(slash + 1); }
  ip4_addr_t ip, mask, gwa;
  ip_addr_t lns_ip, target_ip;
  if (!ip4addr_aton(abuf, &ip) || plen < 0 || plen > 32) { fprintf(stderr, "bad --addr\n"); return 64; }
  ip4_addr_set_u32(&mask, plen ? lwip_htonl(0xffffffffu << (32 - plen)) : 0);
  ip4_addr_set_zero(&gwa);
  if (gw && !ip4addr_aton(gw, &gwa)) { fprintf(stderr, "bad --gw\n"); return 64; }
  if (lns && !ipaddr_aton(lns, &lns_ip)) { fprintf(stderr, "bad --lns\n"); return 64; }
  if (target && !ipaddr_aton(target, &target_ip)) { fprintf(stderr, "bad --ping\n"); return 64; }
  ip_addr_t xtarget_ip;
  if (xtarget && !ipaddr_aton(xtarget, &xtarget_ip)) { fprintf(stderr, "bad --xping\n"); return 64; }
  if (!xtarget) xcount = 0;
  if (!target) count = 0;

  u8_t authflags = 0;
  if (!strcmp(auth, "any")) authflags = PPPAUTHTYPE_ANY;
  else if (strcmp(auth, "none")) {
    char ab[64];
    snprintf(ab, sizeof ab, "%s", auth);
    for (char *tok = strtok(ab, ","); tok; tok = strtok(NULL, ",")) {
      if (!strcmp(tok, "pap")) authflags |= PPPAUTHTYPE_PAP;
      else if (!strcmp(tok, "chap")) authflags |= PPPAUTHTYPE_CHAP;
      else if (!strcmp(tok, "mschapv2")) authflags |= PPPAUTHTYPE_MSCHAP_V2;
      else if (!strcmp(tok, "mschap")) authflags |= PPPAUTHTYPE_MSCHAP;
      else { fprintf(stderr, "bad --auth %s\n", tok); return 64; }
    }
  }

  if (mac) {
    if (parse_mac(mac, tap_mac)) { fprintf(stderr, "bad --mac\n"); return 64; }
  } else if (!addr) {
    /* 02:50 and an FNV-1a hash of the TAP's name: one MAC per TAP, stable across runs. */
    u32_t h = 2166136261u;
    for (const char *q = tap; *q; q++) h = (h ^ (u8_t)*q) * 16777619u;
    u8_t m[6] = {0x02, 0x50, (u8_t)(h >> 24), (u8_t)(h >> 16), (u8_t)(h >> 8), (u8_t)h};
    memcpy(tap_mac, m, 6);
  } else {
    u32_t a = lwip_ntohl(ip4_addr_get_u32(&ip));
    u8_t m[6] = {0x02, 0x4c, (u8_t)(a >> 24), (u8_t)(a >> 16), (u8_t)(a >> 8), (u8_t)a};
    memcpy(tap_mac, m, 6);
  }

  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGPIPE, SIG_IGN);

  tap_fd = tap_open(tap);
  if (tap_fd < 0) return 64;

  lwip_init();
  if (!netif_add(&tapif, &ip, &mask, &gwa, NULL, tap_netif_init, ethernet_input)) return 64;
  netif_set_up(&tapif);
  netif_set_default(&tapif);

  if (pppoe_mode)
    ppp = pppoe_create(&pppif, &tapif, service, acname, on_link_status, NULL);
  else
    ppp = pppol2tp_create(&pppif, &tapif, &lns_ip, (u16_t)port, (const u8_t *)secret,
                          secret ? (u8_t)strlen(secret) : 0, on_link_status, NULL);
  if (!ppp) { fprintf(stderr, "%s_create failed\n", pppoe_mode ? "pppoe" : "pppol2tp"); return 64; }
  ppp_set_notify_phase_callback(ppp, on_phase);
  ppp_set_auth(ppp, authflags, user, password);
  ppp_set_usepeerdns(ppp, 1);
  if (ppp_connect(ppp, 0) != ERR_OK) { fprintf(stderr, "ppp_connect failed\n"); return 64; }

  run_for(up_timeout * 1000.0, cond_up_or_dead);
  int pings_ok = 0, pings = 0, down_early = 0, xpings_ok = 0;
  if (ppp_is_up) {
    if (ncp_wait_ms > 0) run_for(ncp_wait_ms, cond_both_ncps);
    char local[16] = "none", peer[16] = "none", d1[16] = "none", d2[16] = "none", ll[48] = "none";
    if (have_ip4()) {
      ip4addr_ntoa_r(netif_ip4_addr(&pppif), local, sizeof local);
      ip4addr_ntoa_r(netif_ip4_gw(&pppif), peer, sizeof peer);
    }
    ip4_addr_t dns;
    ip4_addr_set_u32(&dns, ppp->ipcp_gotoptions.dnsaddr[0]);
    if (!ip4_addr_isany(&dns)) ip4addr_ntoa_r(&dns, d1, sizeof d1);
    ip4_addr_set_u32(&dns, ppp->ipcp_gotoptions.dnsaddr[1]);
    if (!ip4_addr_isany(&dns)) ip4addr_ntoa_r(&dns, d2, sizeof d2);
    if (have_ip6()) {
      ip6addr_ntoa_r(netif_ip6_addr(&pppif, 0), ll, sizeof ll);
      for (char *q = ll; *q; q++) *q = (char)tolower((unsigned char)*q);
    }
    emit("ppp up local=%s peer=%s dns=%s%s%s ip6=%s", local, peer, d1,
         strcmp(d2, "none") ? "," : "", strcmp(d2, "none") ? d2 : "", ll);

    struct raw_pcb *rp = raw_new(IP_PROTO_ICMP);
    raw_recv(rp, ping_recv, NULL);
    for (int i = 1; i <= count && !stop_requested && !ppp_dead; i++) {
      ping_seq_wait = (u16_t)i;
      ping_got = 0;
      pings++;
      double t0 = now_ms();
      if (ping_send(rp, &target_ip, (u16_t)i) == 0) run_for(ping_timeout_ms, cond_ping);
      double rtt = now_ms() - t0;
      if (ping_got) {
        pings_ok++;
        emit("ping ok seq=%d rtt_ms=%.2f", i, rtt);
      } else {
        emit("ping timeout seq=%d", i);
      }
      ping_seq_wait = 0;
      if (i < count && rtt < interval_ms) run_for(interval_ms - rtt, cond_dead);
    }
    if (ppp_dead && pings < count) down_early = 1;
    for (int i = 1; i <= xcount && !stop_requested && !ppp_dead; i++) {
      ping_seq_wait = (u16_t)(1000 + i);
      ping_got = 0;
      double t0 = now_ms();
      if (ping_send(rp, &xtarget_ip, ping_seq_wait) == 0) run_for(ping_timeout_ms, cond_ping);
      double rtt = now_ms() - t0;
      if (ping_got) {
        xpings_ok++;
        emit("xping ok seq=%d target=%s rtt_ms=%.2f", i, xtarget, rtt);
      } else {
        emit("xping timeout seq=%d target=%s", i, xtarget);
      }
      ping_seq_wait = 0;
    }
    raw_remove(rp);
    if (hold > 0 && !ppp_dead) run_for(hold * 1000.0, cond_dead);
  } else if (!ppp_dead) {
    emit("ppp timeout after=%ds", up_timeout);
  }

  const char *down = ppp_last_err >= 0 ? err_name(ppp_last_err) : "none";
  /* Close cleanly: LCP Terminate-Request when LCP is open (the peer answers it), then the
   * L2TP CDN/StopCCN or the PPPoE PADT. When PPP never came up there is nobody to answer a
   * Terminate-Request: close as on carrier loss, straight to the L2TP/PPPoE teardown. */
  if (!ppp_dead) {
    closing = 1;
    ppp_close(ppp, ppp_ever_up ? 0 : 1);
    run_for(8000, cond_dead);
    if (ppp_dead && ppp_last_err == PPPERR_USER) emit("ppp closed");
  }
  if (ppp_dead) ppp_free(ppp);
  char tail[64] = "", xtail[32] = "";
  if (pppoe_mode) snprintf(tail, sizeof tail, " vlan_drops=%lu", vlan_drops);
  if (xtarget) snprintf(xtail, sizeof xtail, " xpings_ok=%d", xpings_ok);
  emit("done up=%d pings_ok=%d pings=%d down=%s%s%s", ppp_ever_up, pings_ok, count, down, tail, xtail);
  close(tap_fd);
  if (!ppp_ever_up) return 2;
  if (down_early || pings_ok < count) return 1;
  return 0;
}
