/* Test oracle: runs libipt's packet decoder (pt_pkt_*) over a file and prints every packet in a canonical text form
 * that PtLibiptOracleTests prints for our decoder too. Modes:
 *   libipt_harness dump FILE          packets, errors and resyncs (ptdump's loop: sync forward, next, resync on error)
 *   libipt_harness bench FILE MIB     MiB/s of a pt_pkt_next loop over FILE, and over FILE repeated to MIB MiB
 *   libipt_harness errstr             pt_errstr's text for the errors a packet decoder reports
 *   libipt_harness reencode FILE OUT  decodes FILE from its first PSB up to the first error and writes every packet
 *                                     again with libipt's encoder (pt_enc_next) to OUT
 */
#include <intel-pt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint8_t *load(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	if (!f) { perror(path); exit(2); }
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	/* libipt aligns its PSB search to the buffer address: keep it 16-aligned like malloc, as the C# side assumes. */
	uint8_t *buf = aligned_alloc(16, ((size_t) n + 16) & ~(size_t) 15);
	if (n > 0 && fread(buf, (size_t) n, 1, f) != 1) { perror(path); exit(2); }
	fclose(f);
	*size = (size_t) n;
	return buf;
}

static void print_packet(uint64_t off, const struct pt_packet *p)
{
	printf("%" PRIx64 " %u ", off, p->size);
	switch (p->type) {
	case ppt_pad: puts("pad"); break;
	case ppt_psb: puts("psb"); break;
	case ppt_psbend: puts("psbend"); break;
	case ppt_ovf: puts("ovf"); break;
	case ppt_stop: puts("stop"); break;
	case ppt_tnt_8: printf("tnt8 %u %" PRIx64 "\n", p->payload.tnt.bit_size, p->payload.tnt.payload); break;
	case ppt_tnt_64: printf("tnt64 %u %" PRIx64 "\n", p->payload.tnt.bit_size, p->payload.tnt.payload); break;
	case ppt_tip: printf("tip %u %" PRIx64 "\n", p->payload.ip.ipc, p->payload.ip.ip); break;
	case ppt_tip_pge: printf("tip.pge %u %" PRIx64 "\n", p->payload.ip.ipc, p->payload.ip.ip); break;
	case ppt_tip_pgd: printf("tip.pgd %u %" PRIx64 "\n", p->payload.ip.ipc, p->payload.ip.ip); break;
	case ppt_fup: printf("fup %u %" PRIx64 "\n", p->payload.ip.ipc, p->payload.ip.ip); break;
	case ppt_mode:
		if (p->payload.mode.leaf == pt_mol_exec)
			printf("mode.exec %u %u\n", p->payload.mode.bits.exec.csl, p->payload.mode.bits.exec.csd);
		else
			printf("mode.tsx %u %u\n", p->payload.mode.bits.tsx.intx, p->payload.mode.bits.tsx.abrt);
		break;
	case ppt_pip: printf("pip %" PRIx64 " %u\n", p->payload.pip.cr3, p->payload.pip.nr); break;
	case ppt_tsc: printf("tsc %" PRIx64 "\n", p->payload.tsc.tsc); break;
	case ppt_cbr: printf("cbr %x\n", p->payload.cbr.ratio); break;
	case ppt_tma: printf("tma %x %x\n", p->payload.tma.ctc, p->payload.tma.fc); break;
	case ppt_mtc: printf("mtc %x\n", p->payload.mtc.ctc); break;
	case ppt_cyc: printf("cyc %" PRIx64 "\n", p->payload.cyc.value); break;
	case ppt_vmcs: printf("vmcs %" PRIx64 "\n", p->payload.vmcs.base); break;
	case ppt_mnt: printf("mnt %" PRIx64 "\n", p->payload.mnt.payload); break;
	case ppt_exstop: printf("exstop %u\n", p->payload.exstop.ip); break;
	case ppt_mwait: printf("mwait %x %x\n", p->payload.mwait.hints, p->payload.mwait.ext); break;
	case ppt_pwre: printf("pwre %u %u %u\n", p->payload.pwre.state, p->payload.pwre.sub_state, p->payload.pwre.hw); break;
	case ppt_pwrx: printf("pwrx %u %u %u %u %u\n", p->payload.pwrx.last, p->payload.pwrx.deepest,
			      p->payload.pwrx.interrupt, p->payload.pwrx.store, p->payload.pwrx.autonomous); break;
	case ppt_ptw: printf("ptw %u %" PRIx64 " %u\n", p->payload.ptw.plc, p->payload.ptw.payload, p->payload.ptw.ip); break;
	default: printf("other %d\n", (int) p->type); break;
	}
}

static const char *err_name(int err)
{
	switch (-err) {
	case pte_bad_opc: return "bad_opc";
	case pte_bad_packet: return "bad_packet";
	case pte_eos: return "eos";
	case pte_nosync: return "nosync";
	default: return "other";
	}
}

static int dump(const char *path)
{
	size_t size;
	uint8_t *buf = load(path, &size);
	struct pt_config config;
	memset(&config, 0, sizeof(config));
	config.size = sizeof(config);
	config.begin = buf;
	config.end = buf + size;
	struct pt_packet_decoder *dec = pt_pkt_alloc_decoder(&config);
	if (!dec) return 2;
	int err = pt_pkt_sync_forward(dec);
	while (err >= 0) {
		uint64_t off = 0;
		struct pt_packet p;
		pt_pkt_get_offset(dec, &off);
		err = pt_pkt_next(dec, &p, sizeof(p));
		if (err >= 0) { print_packet(off, &p); continue; }
		if (err == -pte_eos) { printf("%" PRIx64 " eos\n", off); break; }
		printf("%" PRIx64 " error %s\n", off, err_name(err));
		err = pt_pkt_sync_forward(dec);
	}
	if (err == -pte_eos || err >= 0) puts("end");
	else printf("sync %s\n", err_name(err));
	pt_pkt_free_decoder(dec);
	free(buf);
	return 0;
}

/* Decodes buf..buf+size once; returns the packet count. Resyncs on errors so the loop covers the whole buffer. */
static uint64_t decode_all(uint8_t *buf, size_t size)
{
	struct pt_config config;
	memset(&config, 0, sizeof(config));
	config.size = sizeof(config);
	config.begin = buf;
	config.end = buf + size;
	struct pt_packet_decoder *dec = pt_pkt_alloc_decoder(&config);
	uint64_t n = 0;
	int err = pt_pkt_sync_forward(dec);
	while (err >= 0) {
		struct pt_packet p;
		err = pt_pkt_next(dec, &p, sizeof(p));
		if (err >= 0) { n++; continue; }
		if (err == -pte_eos) break;
		err = pt_pkt_sync_forward(dec);
	}
	pt_pkt_free_decoder(dec);
	return n;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void bench_one(const char *name, uint8_t *buf, size_t size, int reps)
{
	double best = 1e30;
	uint64_t packets = 0;
	for (int r = 0; r < reps; r++) {
		double t0 = now();
		packets = decode_all(buf, size);
		double t = now() - t0;
		if (t < best) best = t;
	}
	printf("libipt %s bytes=%zu packets=%" PRIu64 " best_s=%.6f MiB/s=%.1f\n", name, size, packets, best,
	       size / 1048576.0 / best);
}

static int bench(const char *path, long mib)
{
	size_t size;
	uint8_t *buf = load(path, &size);
	bench_one("trace", buf, size, 50);
	size_t big = (size_t) mib << 20;
	big -= big % size; /* whole copies only, so every copy starts at a PSB */
	uint8_t *rep = aligned_alloc(16, big);
	for (size_t o = 0; o < big; o += size) memcpy(rep + o, buf, size);
	bench_one("repeated", rep, big, 5);
	free(rep);
	free(buf);
	return 0;
}

static int reencode(const char *path, const char *out)
{
	size_t size;
	uint8_t *buf = load(path, &size);
	uint8_t *obuf = calloc(size + 64, 1);
	struct pt_config config, oconfig;
	memset(&config, 0, sizeof(config));
	config.size = sizeof(config);
	config.begin = buf;
	config.end = buf + size;
	oconfig = config;
	oconfig.begin = obuf;
	oconfig.end = obuf + size + 64;
	struct pt_packet_decoder *dec = pt_pkt_alloc_decoder(&config);
	struct pt_encoder *enc = pt_alloc_encoder(&oconfig);
	int err = pt_pkt_sync_forward(dec);
	while (err >= 0) {
		struct pt_packet p;
		err = pt_pkt_next(dec, &p, sizeof(p));
		if (err < 0) break;
		int n = pt_enc_next(enc, &p);
		if (n < 0) { fprintf(stderr, "pt_enc_next: %s\n", pt_errstr(pt_errcode(n))); return 1; }
	}
	uint64_t written = 0;
	pt_enc_get_offset(enc, &written);
	FILE *f = fopen(out, "wb");
	if (!f || (written && fwrite(obuf, written, 1, f) != 1)) { perror(out); return 2; }
	fclose(f);
	pt_free_encoder(enc);
	pt_pkt_free_decoder(dec);
	free(obuf);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "dump")) return dump(argv[2]);
	if (argc >= 4 && !strcmp(argv[1], "bench")) return bench(argv[2], atol(argv[3]));
	if (argc >= 4 && !strcmp(argv[1], "reencode")) return reencode(argv[2], argv[3]);
	if (argc >= 2 && !strcmp(argv[1], "errstr")) {
		printf("bad_opc %s\nbad_packet %s\n", pt_errstr(pte_bad_opc), pt_errstr(pte_bad_packet));
		return 0;
	}
	fprintf(stderr, "usage: %s dump FILE | bench FILE MIB | reencode FILE OUT\n", argv[0]);
	return 2;
}
