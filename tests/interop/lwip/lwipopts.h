/* lwIP options for the PPP test harness (tests/interop/lwip/lwip_lac.c: PPPoL2TP LAC or
 * PPPoE client). Bare-metal style (NO_SYS): one thread, a select() loop on the TAP fd
 * driving sys_check_timeouts(). Only what the harness needs: Ethernet/ARP on the TAP, UDP
 * for L2TP, raw ICMP for pings, IPv4 and IPv6, and the PPP stack with PPPoL2TP and PPPoE. */
#ifndef VL_LWIPOPTS_H
#define VL_LWIPOPTS_H

#define NO_SYS                      1
#define SYS_LIGHTWEIGHT_PROT        0
#define LWIP_SOCKET                 0
#define LWIP_NETCONN                0
#define LWIP_TCP                    0
#define LWIP_ALTCP                  0
#define LWIP_UDP                    1
#define LWIP_RAW                    1
#define LWIP_ICMP                   1
#define LWIP_ARP                    1
#define LWIP_ETHERNET               1
#define LWIP_IPV4                   1
#define LWIP_IPV6                   1
#define LWIP_IPV6_AUTOCONFIG        0
#define LWIP_IPV6_DHCP6             0
/* On 64-bit hosts the IPv6 reassembly header does not fit over the IPv6 header: copy it
 * (without this lwIP asserts at the first IPv6 packet). */
#define IPV6_FRAG_COPYHEADER        1
#define LWIP_DHCP                   0
#define LWIP_AUTOIP                 0
#define LWIP_ACD                    0
#define LWIP_IGMP                   0
#define LWIP_DNS                    1   /* IPCP asks for DNS only with it */
#define LWIP_STATS                  0
#define LWIP_NETIF_LOOPBACK         0
#define LWIP_SINGLE_NETIF           0

#define MEM_ALIGNMENT               8
#define MEM_SIZE                    (256 * 1024)
#define MEMP_NUM_PBUF               64
#define MEMP_NUM_UDP_PCB            4
#define MEMP_NUM_RAW_PCB            4
#define PBUF_POOL_SIZE              64
#define PBUF_POOL_BUFSIZE           1600

/* PPP */
#define PPP_SUPPORT                 1
#define PPPOL2TP_SUPPORT            1
#define PPPOL2TP_AUTH_SUPPORT       1
#define PPPOE_SUPPORT               1
/* Service-Name and AC-Name in the PADI (--service, --ac); lwIP then strlen()s both names. */
#define PPPOE_SCNAME_SUPPORT        1
#define PPPOS_SUPPORT               0
#define PAP_SUPPORT                 1
#define CHAP_SUPPORT                1
#define MSCHAP_SUPPORT              1
#define EAP_SUPPORT                 0
#define CCP_SUPPORT                 0
#define MPPE_SUPPORT                0
#define VJ_SUPPORT                  0
#define PPP_IPV4_SUPPORT            1
#define PPP_IPV6_SUPPORT            1
#define PPP_NOTIFY_PHASE            1
#define MEMP_NUM_PPP_PCB            1
#define MEMP_NUM_PPPOL2TP_INTERFACES 1
#define MEMP_NUM_PPPOE_INTERFACES   1
/* LCP echo: notices a dead LNS (lwIP's LAC ignores nothing but what reaches PPP). */
#define LCP_ECHOINTERVAL            5
#define LCP_MAXECHOFAILS            3
/* Restart timer of LCP/IPCP/IP6CP: RFC 1661's 3 s rather than lwIP's 6 s, so a request
 * sent before the peer's PPP was ready is repeated sooner. */
#define FSM_DEFTIMEOUT              3

/* Diagnostics go to stderr (the harness points fd 1 at stderr; its own lines use a
 * private stdout stream). */
#define LWIP_DEBUG                  1
#define LWIP_DBG_MIN_LEVEL          LWIP_DBG_LEVEL_ALL
#define LWIP_DBG_TYPES_ON           LWIP_DBG_ON
#define PPP_DEBUG                   LWIP_DBG_ON

#endif
