/* Test oracle: libipt's instruction flow decoder (pt_insn_*, Debian libipt 2.0.5) over a raw PT file, the way
 * ptxed drives it. Prints one line per instruction, "<ip> <time> <iclass>" (ip and time in hex; time from
 * pt_insn_time, "-" before the first timing packet; iclass as enum pt_insn_class), one line per event,
 * "E <name> <ip>", every error as "ERR <offset> <ip> <message>" (then
 * resyncs at the next PSB, as ptxed does), and "END <instructions>" at the end.
 *   softpt_libipt [--cpu F/M] [--mtc-freq N] [--nom-freq N] [--ctc EAX/EBX] [--raw FILE:ADDRESS]... PTFILE
 */
#include <intel-pt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

static const char *event_name(enum pt_event_type type)
{
	switch (type) {
	case ptev_enabled: return "enabled";
	case ptev_disabled: return "disabled";
	case ptev_async_disabled: return "async_disabled";
	case ptev_async_branch: return "async_branch";
	case ptev_paging: return "paging";
	case ptev_async_paging: return "async_paging";
	case ptev_overflow: return "overflow";
	case ptev_exec_mode: return "exec_mode";
	case ptev_tsx: return "tsx";
	case ptev_stop: return "stop";
	case ptev_cbr: return "cbr";
	default: return "other";
	}
}

static int drain_events(struct pt_insn_decoder *dec, int status)
{
	while (status & pts_event_pending) {
		struct pt_event ev;
		status = pt_insn_event(dec, &ev, sizeof(ev));
		if (status < 0) return status;
		uint64_t ip = 0;
		switch (ev.type) {
		case ptev_enabled: ip = ev.variant.enabled.ip; break;
		case ptev_disabled: ip = ev.variant.disabled.ip; break;
		case ptev_async_disabled: ip = ev.variant.async_disabled.at; break;
		case ptev_exec_mode: ip = ev.variant.exec_mode.ip; break;
		default: break;
		}
		printf("E %s %" PRIx64 "%s\n", event_name(ev.type), ip, ev.ip_suppressed ? " suppressed" : "");
	}
	return status;
}

int main(int argc, char **argv)
{
	struct pt_config config;
	memset(&config, 0, sizeof(config));
	config.size = sizeof(config);
	struct pt_image *image = pt_image_alloc("softpt");
	const char *ptfile = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--cpu") && i + 1 < argc) {
			unsigned family, model;
			if (sscanf(argv[++i], "%u/%u", &family, &model) != 2) return 2;
			config.cpu.vendor = pcv_intel;
			config.cpu.family = (uint16_t) family;
			config.cpu.model = (uint8_t) model;
			if (pt_cpu_errata(&config.errata, &config.cpu) < 0) { fprintf(stderr, "unknown cpu\n"); return 2; }
		} else if (!strcmp(argv[i], "--mtc-freq") && i + 1 < argc) {
			config.mtc_freq = (uint8_t) atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--nom-freq") && i + 1 < argc) {
			config.nom_freq = (uint8_t) atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--ctc") && i + 1 < argc) {
			if (sscanf(argv[++i], "%u/%u", &config.cpuid_0x15_eax, &config.cpuid_0x15_ebx) != 2) return 2;
		} else if (!strcmp(argv[i], "--raw") && i + 1 < argc) {
			char *spec = argv[++i];
			char *colon = strrchr(spec, ':');
			if (!colon) return 2;
			*colon = 0;
			uint64_t vaddr = strtoull(colon + 1, NULL, 0);
			struct stat st;
			if (stat(spec, &st) < 0) { perror(spec); return 2; }
			int err = pt_image_add_file(image, spec, 0, (uint64_t) st.st_size, NULL, vaddr);
			if (err < 0) { fprintf(stderr, "%s: %s\n", spec, pt_errstr(pt_errcode(err))); return 2; }
		} else {
			ptfile = argv[i];
		}
	}
	if (!ptfile) { fprintf(stderr, "no PT file\n"); return 2; }
	size_t size;
	uint8_t *buf = load(ptfile, &size);
	config.begin = buf;
	config.end = buf + size;
	struct pt_insn_decoder *dec = pt_insn_alloc_decoder(&config);
	if (!dec) { fprintf(stderr, "cannot allocate the decoder\n"); return 2; }
	pt_insn_set_image(dec, image);

	uint64_t count = 0;
	for (;;) {
		struct pt_insn insn;
		memset(&insn, 0, sizeof(insn));
		int status = pt_insn_sync_forward(dec);
		if (status < 0) {
			if (status == -pte_eos) break;
			uint64_t off = 0;
			pt_insn_get_offset(dec, &off);
			printf("ERR %" PRIx64 " 0 sync: %s\n", off, pt_errstr(pt_errcode(status)));
			break;
		}
		for (;;) {
			status = drain_events(dec, status);
			if (status < 0) break;
			if (status & pts_eos) { status = -pte_eos; break; }
			status = pt_insn_next(dec, &insn, sizeof(insn));
			if (insn.iclass != ptic_error) {
				uint64_t tsc = 0;
				uint32_t lost_mtc = 0, lost_cyc = 0;
				count++;
				if (pt_insn_time(dec, &tsc, &lost_mtc, &lost_cyc) < 0)
					printf("%" PRIx64 " - %d\n", insn.ip, (int) insn.iclass);
				else
					printf("%" PRIx64 " %" PRIx64 " %d\n", insn.ip, tsc, (int) insn.iclass);
			}
			if (status < 0) break;
		}
		if (status == -pte_eos) break;
		uint64_t off = 0;
		pt_insn_get_offset(dec, &off);
		printf("ERR %" PRIx64 " %" PRIx64 " %s\n", off, insn.ip, pt_errstr(pt_errcode(status)));
	}
	printf("END %" PRIu64 "\n", count);
	pt_insn_free_decoder(dec);
	pt_image_free(image);
	free(buf);
	return 0;
}
