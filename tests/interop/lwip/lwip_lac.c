/*
 * lwip_lac: an independent PPP client for interop tests — lwIP's PPPoL2TP (an L2TP LAC with
 * its own userspace PPP: LCP, PAP, CHAP-MD5, MS-CHAPv2, IPCP, IP6CP) on a TAP interface.
 *
 *   lwip_lac --tap IF --addr A.B.C.D/LEN [--gw G] [--mac M] --lns IP [--port 1701]
 *            [--secret S] [--user U --password P] [--auth pap,chap,mschapv2]
 *            [--ping TARGET --count N --interval MS --ping-timeout MS]
 *            [--up-timeout S] [--ncp-wait MS] [--hold S]
 *
 * The TAP interface IF must exist (ip tuntap add IF mode tap) or be creatable; lwIP owns the
 * address A.B.C.D on it (the kernel has none). Machine-readable lines on stdout:
 *   phase NAME                                   PPP phase changes (establish = the L2TP
 *                                                session is up and LCP started)
 *   ppp up local=A peer=B dns=D1,D2 ip6=LL|none  IPCP and/or IP6CP up (after the first
 *                                                NCP is up, waits --ncp-wait ms for the
 *                                                other; "none" where one did not come up)
 *   ping ok seq=N rtt_ms=X | ping timeout seq=N  ICMP echo through the PPP link
 *   ppp down reason=NAME code=N                  the link went down (not by us)
 *   ppp closed                                   our own close finished
 *   done up=0|1 pings_ok=K pings=N down=NAME|none
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

static err_t tap_linkoutput(struct netif *nif, struct pbuf *p) {
  unsigned char buf[2048];
  LWIP_UNUSED_ARG(nif);
  if (p->tot_len > sizeof buf) return ERR_BUF;
  u16_t n = pbuf_copy_partial(p, buf, p->tot_len, 0);
  if (write(tap_fd, buf, n) != n) return ERR_IF;
  return ERR_OK;
}

static u8_t tap_mac[6];

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
    ssize_t n = read(tap_fd, buf, sizeof buf);
    if (n <= 0) return;
    struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)n, PBUF_POOL);
    if (!p) return;
    pbuf_take(p, buf, (u16_t)n);
    if (nif->input(p, nif) != ERR_OK) pbuf_free(p);
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
          "       [--up-timeout S] [--ncp-wait MS] [--hold S]\n");
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
  int port = 1701, count = 3, interval_ms = 1000, ping_timeout_ms = 2000;
  int up_timeout = 20, ncp_wait_ms = 2000, hold = 0;
  static const struct option opts[] = {
      {"tap", 1, 0, 't'},      {"addr", 1, 0, 'a'},     {"gw", 1, 0, 'g'},
      {"mac", 1, 0, 'm'},      {"lns", 1, 0, 'l'},      {"port", 1, 0, 'P'},
      {"secret", 1, 0, 's'},   {"user", 1, 0, 'u'},     {"password", 1, 0, 'p'},
      {"auth", 1, 0, 'A'},     {"ping", 1, 0, 'i'},     {"count", 1, 0, 'c'},
      {"interval", 1, 0, 'I'}, {"ping-timeout", 1, 0, 'T'}, {"up-timeout", 1, 0, 'U'},
      {"ncp-wait", 1, 0, '6'}, {"hold", 1, 0, 'H'},     {"help", 0, 0, 'h'},
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
    default: usage();
    }
  }
  if (!tap || !addr || !lns || optind != argc) usage();

  /* Our lines go to the real stdout; lwIP's printf diagnostics to stderr. */
  int fd1 = dup(1);
  out = fdopen(fd1, "w");
  dup2(2, 1);
  if (!out) return 64;

  char abuf[64];
  snprintf(abuf, sizeof abuf, "%s", addr);
  char *slash = strchr(abuf, '/');
  int plen = 24;
  if (slash) { *slash = 0; plen = atoi(slash + 1); }
  ip4_addr_t ip, mask, gwa;
  ip_addr_t lns_ip, target_ip;
  if (!ip4addr_aton(abuf, &ip) || plen < 0 || plen > 32) { fprintf(stderr, "bad --addr\n"); return 64; }
  ip4_addr_set_u32(&mask, plen ? lwip_htonl(0xffffffffu << (32 - plen)) : 0);
  ip4_addr_set_zero(&gwa);
  if (gw && !ip4addr_aton(gw, &gwa)) { fprintf(stderr, "bad --gw\n"); return 64; }
  if (!ipaddr_aton(lns, &lns_ip)) { fprintf(stderr, "bad --lns\n"); return 64; }
  if (target && !ipaddr_aton(target, &target_ip)) { fprintf(stderr, "bad --ping\n"); return 64; }
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

  ppp = pppol2tp_create(&pppif, &tapif, &lns_ip, (u16_t)port, (const u8_t *)secret,
                        secret ? (u8_t)strlen(secret) : 0, on_link_status, NULL);
  if (!ppp) { fprintf(stderr, "pppol2tp_create failed\n"); return 64; }
  ppp_set_notify_phase_callback(ppp, on_phase);
  ppp_set_auth(ppp, authflags, user, password);
  ppp_set_usepeerdns(ppp, 1);
  if (ppp_connect(ppp, 0) != ERR_OK) { fprintf(stderr, "ppp_connect failed\n"); return 64; }

  run_for(up_timeout * 1000.0, cond_up_or_dead);
  int pings_ok = 0, pings = 0, down_early = 0;
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
    raw_remove(rp);
    if (ppp_dead && pings < count) down_early = 1;
    if (hold > 0 && !ppp_dead) run_for(hold * 1000.0, cond_dead);
  } else if (!ppp_dead) {
    emit("ppp timeout after=%ds", up_timeout);
  }

  const char *down = ppp_last_err >= 0 ? err_name(ppp_last_err) : "none";
  /* Close cleanly: LCP Terminate-Request when LCP is open (the peer answers it), then the
   * L2TP CDN/StopCCN. When PPP never came up there is nobody to answer a Terminate-Request:
   * close as on carrier loss, straight to the L2TP teardown. */
  if (!ppp_dead) {
    closing = 1;
    ppp_close(ppp, ppp_ever_up ? 0 : 1);
    run_for(8000, cond_dead);
    if (ppp_dead && ppp_last_err == PPPERR_USER) emit("ppp closed");
  }
  if (ppp_dead) ppp_free(ppp);
  emit("done up=%d pings_ok=%d pings=%d down=%s", ppp_ever_up, pings_ok, count, down);
  close(tap_fd);
  if (!ppp_ever_up) return 2;
  if (down_early || pings_ok < count) return 1;
  return 0;
}
