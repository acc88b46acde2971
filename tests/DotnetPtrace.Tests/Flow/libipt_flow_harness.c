/* Test and benchmark oracle: libipt's instruction flow and block decoders over a raw PT file and a memory dump
 * (pages.dump = 4 KiB pages, pages.addr = little-endian u64 address of each; address-contiguous pages are merged,
 * each run added with pt_image_add_file as ptxed --raw would).
 *   libipt_flow_harness insn PT DUMP ADDR F M     ptxed --insn-decoder --no-inst style text: addresses, events
 *                                                 (no status updates), [off, ip: error: msg], [end of trace];
 *                                                 the count goes to stderr as "insn: N."
 *   libipt_flow_harness blk PT DUMP ADDR F M MIB  pt_blk_next loop (ptxed's block loop without printing) over PT,
 *                                                 then over PT repeated to about MIB MiB: bytes, insns, blocks,
 *                                                 seconds and MiB/s per run.
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
	uint8_t *buf = aligned_alloc(16, ((size_t) n + 16) & ~(size_t) 15);
	if (n > 0 && fread(buf, (size_t) n, 1, f) != 1) { perror(path); exit(2); }
	fclose(f);
	*size = (size_t) n;
	return buf;
}

static struct pt_image *load_image(const char *dump, const char *addrfile)
{
	size_t asize;
	uint8_t *a = load(addrfile, &asize);
	size_t count = asize / 8;
	struct pt_image *image = pt_image_alloc("memdump");
	for (size_t i = 0; i < count;) {
		uint64_t start;
		memcpy(&start, a + i * 8, 8);
		size_t j = i + 1;
		for (; j < count; j++) {
			uint64_t v;
			memcpy(&v, a + j * 8, 8);
			if (v != start + (uint64_t) (j - i) * 4096) break;
		}
		int err = pt_image_add_file(image, dump, (uint64_t) i * 4096, (uint64_t) (j - i) * 4096, NULL, start);
		if (err < 0) { fprintf(stderr, "pt_image_add_file: %s\n", pt_errstr(pt_errcode(err))); exit(2); }
		i = j;
	}
	free(a);
	return image;
}

static void config_for(struct pt_config *config, uint8_t *buf, size_t size, int family, int model)
{
	pt_config_init(config);
	config->begin = buf;
	config->end = buf + size;
	if (family) {
		config->cpu.vendor = pcv_intel;
		config->cpu.family = (uint16_t) family;
		config->cpu.model = (uint8_t) model;
		pt_cpu_errata(&config->errata, &config->cpu);
	}
}

static const char *mode_name(enum pt_exec_mode m)
{
	switch (m) {
	case ptem_16bit: return "16-bit";
	case ptem_32bit: return "32-bit";
	case ptem_64bit: return "64-bit";
	default: return "<unknown>";
	}
}

static void print_event(const struct pt_event *ev)
{
	switch (ev->type) {
	case ptev_enabled: printf("[%s]\n", ev->variant.enabled.resumed ? "resumed" : "enabled"); break;
	case ptev_disabled: case ptev_async_disabled: puts("[disabled]"); break;
	case ptev_async_branch: puts("[interrupt]"); break;
	case ptev_paging: printf("[paging, cr3: %016" PRIx64 "%s]\n", ev->variant.paging.cr3, ev->variant.paging.non_root ? ", nr" : ""); break;
	case ptev_async_paging: printf("[paging, cr3: %016" PRIx64 "%s]\n", ev->variant.async_paging.cr3, ev->variant.async_paging.non_root ? ", nr" : ""); break;
	case ptev_overflow: puts("[overflow]"); break;
	case ptev_exec_mode: printf("[exec mode: %s]\n", mode_name(ev->variant.exec_mode.mode)); break;
	case ptev_tsx: puts(ev->variant.tsx.aborted ? "[aborted]" : ev->variant.tsx.speculative ? "[begin transaction]" : "[committed]"); break;
	case ptev_stop: puts("[stopped]"); break;
	case ptev_vmcs: printf("[vmcs, base: %016" PRIx64 "]\n", ev->variant.vmcs.base); break;
	case ptev_async_vmcs: printf("[vmcs, base: %016" PRIx64 "]\n", ev->variant.async_vmcs.base); break;
	case ptev_cbr: printf("[cbr: %x]\n", ev->variant.cbr.ratio); break;
	default: printf("[event %d]\n", (int) ev->type); break;
	}
}

static void decode_insn(struct pt_insn_decoder *dec)
{
	uint64_t count = 0, sync = 0;
	for (;;) {
		struct pt_insn insn;
		uint64_t offset = 0;
		int status;

		insn.ip = 0;
		status = pt_insn_sync_forward(dec);
		if (status < 0) {
			uint64_t new_sync = 0;
			if (status == -pte_eos) break;
			pt_insn_get_offset(dec, &offset);
			printf("[%" PRIx64 ", %" PRIx64 ": sync error: %s]\n", offset, insn.ip, pt_errstr(pt_errcode(status)));
			if (pt_insn_get_offset(dec, &new_sync) < 0 || new_sync <= sync) break;
			sync = new_sync;
			continue;
		}
		for (;;) {
			while (status & pts_event_pending) {
				struct pt_event ev;
				status = pt_insn_event(dec, &ev, sizeof(ev));
				if (status < 0) break;
				if (!ev.status_update) print_event(&ev);
			}
			if (status < 0) break;
			if (status & pts_eos) {
				if (!(status & pts_ip_suppressed)) puts("[end of trace]");
				status = -pte_eos;
				break;
			}
			status = pt_insn_next(dec, &insn, sizeof(insn));
			if (status < 0) {
				if (insn.iclass != ptic_error) { printf("%016" PRIx64 "\n", insn.ip); count++; }
				break;
			}
			printf("%016" PRIx64 "\n", insn.ip);
			count++;
		}
		if (status == -pte_eos) break;
		pt_insn_get_offset(dec, &offset);
		printf("[%" PRIx64 ", %" PRIx64 ": error: %s]\n", offset, insn.ip, pt_errstr(pt_errcode(status)));
	}
	fprintf(stderr, "insn: %" PRIu64 ".\n", count);
}

/* ptxed's block loop without output: counts instructions and blocks. */
static void decode_blk(struct pt_block_decoder *dec, uint64_t *insns, uint64_t *blocks, uint64_t *errors)
{
	uint64_t sync = 0;
	for (;;) {
		struct pt_block block;
		int status = pt_blk_sync_forward(dec);
		if (status < 0) {
			uint64_t new_sync = 0;
			if (status == -pte_eos) break;
			(*errors)++;
			if (pt_blk_get_offset(dec, &new_sync) < 0 || new_sync <= sync) break;
			sync = new_sync;
			continue;
		}
		for (;;) {
			while (status & pts_event_pending) {
				struct pt_event ev;
				status = pt_blk_event(dec, &ev, sizeof(ev));
				if (status < 0) break;
			}
			if (status < 0) break;
			if (status & pts_eos) { status = -pte_eos; break; }
			status = pt_blk_next(dec, &block, sizeof(block));
			*insns += block.ninsn;
			if (block.ninsn) (*blocks)++;
			if (status < 0) break;
		}
		if (status == -pte_eos) break;
		(*errors)++;
	}
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void bench(const char *name, uint8_t *buf, size_t size, struct pt_image *image, int family, int model, int reps)
{
	double best = 1e300;
	uint64_t insns = 0, blocks = 0, errors = 0;
	for (int r = 0; r < reps; r++) {
		struct pt_config config;
		config_for(&config, buf, size, family, model);
		struct pt_block_decoder *dec = pt_blk_alloc_decoder(&config);
		pt_blk_set_image(dec, image);
		insns = blocks = errors = 0;
		double t0 = now();
		decode_blk(dec, &insns, &blocks, &errors);
		double s = now() - t0;
		pt_blk_free_decoder(dec);
		if (s < best) best = s;
	}
	printf("libipt-blk %s bytes=%zu insns=%" PRIu64 " blocks=%" PRIu64 " errors=%" PRIu64 " best_s=%.6f MiB/s=%.1f Minsn/s=%.1f\n",
	       name, size, insns, blocks, errors, best, size / 1048576.0 / best, insns / 1e6 / best);
}

int main(int argc, char **argv)
{
	if (argc < 7) {
		fprintf(stderr, "usage: %s insn|blk PT DUMP ADDR FAMILY MODEL [MIB]\n", argv[0]);
		return 2;
	}
	size_t size;
	uint8_t *buf = load(argv[2], &size);
	struct pt_image *image = load_image(argv[3], argv[4]);
	int family = atoi(argv[5]), model = atoi(argv[6]);

	if (strcmp(argv[1], "insn") == 0) {
		struct pt_config config;
		config_for(&config, buf, size, family, model);
		struct pt_insn_decoder *dec = pt_insn_alloc_decoder(&config);
		if (!dec) { fprintf(stderr, "cannot allocate the decoder\n"); return 2; }
		pt_insn_set_image(dec, image);
		decode_insn(dec);
		pt_insn_free_decoder(dec);
		return 0;
	}
	if (strcmp(argv[1], "blk") == 0) {
		int mib = argc > 7 ? atoi(argv[7]) : 256;
		bench("trace", buf, size, image, family, model, 5);
		size_t copies = ((size_t) mib << 20) / size;
		if (copies < 1) copies = 1;
		uint8_t *big = aligned_alloc(16, (size * copies + 16) & ~(size_t) 15);
		for (size_t i = 0; i < copies; i++) memcpy(big + i * size, buf, size);
		bench("repeated", big, size * copies, image, family, model, 2);
		return 0;
	}
	fprintf(stderr, "unknown mode %s\n", argv[1]);
	return 2;
}
