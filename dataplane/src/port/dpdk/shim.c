/*
 * varouter's C shim over DPDK 22.11: wraps the `static inline` functions of DPDK's headers
 * (rx/tx burst, mbuf alloc/free, rdtsc) and the calls whose arguments are large structs
 * (port configuration, link, xstats) behind small functions with plain arguments, so the
 * Rust side (ffi.rs) declares only pointers and integers. Compiled by dataplane/build.rs
 * with the flags of `pkg-config --cflags libdpdk`, only with the cargo feature `dpdk`.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <rte_config.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

int vr_errno(void) { return rte_errno; }
const char *vr_strerror(int e) { return rte_strerror(e); }

int vr_eal_init(int argc, char **argv) { return rte_eal_init(argc, argv); }
int vr_eal_cleanup(void) { return rte_eal_cleanup(); }

/* Offsets of the rte_mbuf fields the Rust side reads directly (checked at start-up). */
void vr_mbuf_layout(uint32_t out[8]) {
    out[0] = offsetof(struct rte_mbuf, buf_addr);
    out[1] = offsetof(struct rte_mbuf, data_off);
    out[2] = offsetof(struct rte_mbuf, nb_segs);
    out[3] = offsetof(struct rte_mbuf, pkt_len);
    out[4] = offsetof(struct rte_mbuf, data_len);
    out[5] = offsetof(struct rte_mbuf, buf_len);
    out[6] = sizeof(struct rte_mbuf);
    out[7] = RTE_PKTMBUF_HEADROOM;
}

struct rte_mempool *vr_pool_create(const char *name, unsigned n, unsigned cache,
                                   uint16_t data_room, int socket) {
    return rte_pktmbuf_pool_create(name, n, cache, 0, data_room, socket);
}
void vr_pool_free(struct rte_mempool *mp) { rte_mempool_free(mp); }
unsigned vr_pool_avail(const struct rte_mempool *mp) { return rte_mempool_avail_count(mp); }
unsigned vr_pool_size(const struct rte_mempool *mp) { return mp->size; }

struct rte_mbuf *vr_mbuf_alloc(struct rte_mempool *mp) { return rte_pktmbuf_alloc(mp); }
void vr_mbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }

uint16_t vr_rx_burst(uint16_t port, uint16_t q, struct rte_mbuf **pkts, uint16_t n) {
    return rte_eth_rx_burst(port, q, pkts, n);
}
uint16_t vr_tx_burst(uint16_t port, uint16_t q, struct rte_mbuf **pkts, uint16_t n) {
    return rte_eth_tx_burst(port, q, pkts, n);
}

uint64_t vr_rdtsc(void) { return rte_rdtsc(); }
uint64_t vr_tsc_hz(void) { return rte_get_tsc_hz(); }

int vr_remote_launch(int (*f)(void *), void *arg, unsigned lcore) {
    return rte_eal_remote_launch(f, arg, lcore);
}
int vr_wait_lcore(unsigned lcore) { return rte_eal_wait_lcore(lcore); }
unsigned vr_lcore_id(void) { return rte_lcore_id(); }
int vr_lcore_cpu(unsigned lcore) { return rte_lcore_to_cpu_id(lcore); }
unsigned vr_lcore_count(void) { return rte_lcore_count(); }

uint16_t vr_port_count(void) { return rte_eth_dev_count_avail(); }
int vr_port_by_name(const char *name, uint16_t *port) { return rte_eth_dev_get_port_by_name(name, port); }
int vr_port_valid(uint16_t port) { return rte_eth_dev_is_valid_port(port); }
int vr_port_name(uint16_t port, char *buf) { return rte_eth_dev_get_name_by_port(port, buf); }
int vr_port_socket(uint16_t port) { return rte_eth_dev_socket_id(port); }

/* Device facts: max queues, supported RSS hash types, driver name (copied, NUL-ended). */
int vr_port_info(uint16_t port, uint16_t *max_rxq, uint16_t *max_txq, uint64_t *rss,
                 char *driver, size_t driver_len) {
    struct rte_eth_dev_info info;
    int rc = rte_eth_dev_info_get(port, &info);
    if (rc != 0)
        return rc;
    *max_rxq = info.max_rx_queues;
    *max_txq = info.max_tx_queues;
    *rss = info.flow_type_rss_offloads;
    if (driver_len > 0) {
        strncpy(driver, info.driver_name ? info.driver_name : "", driver_len - 1);
        driver[driver_len - 1] = 0;
    }
    return 0;
}

/*
 * Configures `nrxq` rx queues (RSS over IP/TCP/UDP when more than one and the device can
 * hash) and `ntxq` tx queues, all on `mp`. `*stage` says which step failed:
 * 1 configure, 2 rx queue setup, 3 tx queue setup, 4 adjust descriptors.
 */
int vr_port_configure(uint16_t port, uint16_t nrxq, uint16_t ntxq, uint16_t rxd, uint16_t txd,
                      struct rte_mempool *mp, int *stage) {
    struct rte_eth_dev_info info;
    struct rte_eth_conf conf;
    int rc = rte_eth_dev_info_get(port, &info);
    *stage = 1;
    if (rc != 0)
        return rc;
    memset(&conf, 0, sizeof(conf));
    uint64_t hf = (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP) & info.flow_type_rss_offloads;
    if (nrxq > 1 && hf != 0) {
        conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
        conf.rx_adv_conf.rss_conf.rss_key = NULL;
        conf.rx_adv_conf.rss_conf.rss_hf = hf;
    }
    if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE)
        conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
    rc = rte_eth_dev_configure(port, nrxq, ntxq, &conf);
    if (rc != 0)
        return rc;
    *stage = 4;
    rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, &rxd, &txd);
    if (rc != 0)
        return rc;
    int socket = rte_eth_dev_socket_id(port);
    if (socket < 0)
        socket = 0;
    *stage = 2;
    for (uint16_t q = 0; q < nrxq; q++) {
        rc = rte_eth_rx_queue_setup(port, q, rxd, socket, NULL, mp);
        if (rc != 0)
            return rc;
    }
    *stage = 3;
    struct rte_eth_txconf txc = info.default_txconf;
    txc.offloads = conf.txmode.offloads;
    for (uint16_t q = 0; q < ntxq; q++) {
        rc = rte_eth_tx_queue_setup(port, q, txd, socket, &txc);
        if (rc != 0)
            return rc;
    }
    *stage = 0;
    return 0;
}

int vr_port_start(uint16_t port) {
    int rc = rte_eth_dev_start(port);
    if (rc == 0)
        (void)rte_eth_promiscuous_enable(port); /* virtual devices may not support it */
    return rc;
}
int vr_port_stop(uint16_t port) { return rte_eth_dev_stop(port); }
int vr_port_close(uint16_t port) { return rte_eth_dev_close(port); }

int vr_port_mac(uint16_t port, uint8_t out[6]) {
    struct rte_ether_addr a;
    int rc = rte_eth_macaddr_get(port, &a);
    if (rc == 0)
        memcpy(out, a.addr_bytes, 6);
    return rc;
}

int vr_port_set_mac(uint16_t port, const uint8_t mac[6]) {
    struct rte_ether_addr a;
    memcpy(a.addr_bytes, mac, 6);
    return rte_eth_dev_default_mac_addr_set(port, &a);
}

int vr_port_link(uint16_t port, uint32_t *speed, int *up, int *full_duplex) {
    struct rte_eth_link l;
    memset(&l, 0, sizeof(l));
    int rc = rte_eth_link_get_nowait(port, &l);
    if (rc != 0)
        return rc;
    *speed = l.link_speed;
    *up = l.link_status;
    *full_duplex = l.link_duplex;
    return 0;
}

/* Number of extended statistics (negative on error). */
int vr_xstats_count(uint16_t port) { return rte_eth_xstats_get(port, NULL, 0); }

/* Copies up to `n` xstat names (each `name_len` bytes, NUL-ended) and values, in id order. */
int vr_xstats_get(uint16_t port, char *names, size_t name_len, uint64_t *values, unsigned n) {
    struct rte_eth_xstat_name *nm = calloc(n, sizeof(*nm));
    struct rte_eth_xstat *xs = calloc(n, sizeof(*xs));
    int rc = -ENOMEM;
    if (nm == NULL || xs == NULL)
        goto out;
    rc = rte_eth_xstats_get_names(port, nm, n);
    if (rc < 0 || (unsigned)rc > n)
        goto out;
    int m = rte_eth_xstats_get(port, xs, n);
    if (m < 0 || (unsigned)m > n) {
        rc = m < 0 ? m : -ENOSPC;
        goto out;
    }
    for (int i = 0; i < m; i++) {
        uint64_t id = xs[i].id;
        values[i] = xs[i].value;
        strncpy(names + (size_t)i * name_len, id < n ? nm[id].name : "?", name_len - 1);
        names[(size_t)i * name_len + name_len - 1] = 0;
    }
    rc = m;
out:
    free(nm);
    free(xs);
    return rc;
}
