/* rtc_store.c - NVRAM record and JSON state file, see rtc_store.h */
#include "rtc/rtc_store.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int load_nvram(struct rtc_store *s, struct rtc_dev *d)
{
	uint8_t buf[DS1307_RECORD_SIZE];
	int rc = rtc_nvram_read(d, 0, buf, sizeof(buf));

	if (rc < 0)
		return rc;
	snprintf(s->rec_source, sizeof(s->rec_source), "NVRAM");
	s->rec_rc = ds1307_record_decode(buf, sizeof(buf), &s->rec, s->rec_err, sizeof(s->rec_err));
	return 0;
}

static void load_record_json(struct rtc_store *s, json_t *r)
{
	json_int_t flags, last_set, ref_sec, ref_nsec;
	uint8_t buf[DS1307_RECORD_SIZE];
	double off, ppm, unc;

	snprintf(s->rec_source, sizeof(s->rec_source), "state file");
	if (!json_is_object(r) || json_unpack(r, "{s:I, s:I, s:I, s:I, s:F, s:F, s:F}", "flags", &flags,
					      "last_set", &last_set, "ref_sec", &ref_sec, "ref_nsec",
					      &ref_nsec, "ref_offset", &off, "drift_ppm", &ppm,
					      "drift_unc_ppm", &unc) < 0 ||
	    ref_nsec < 0 || ref_nsec >= 1000000000 || flags < 0 || flags > 255) {
		s->rec_rc = -ENOENT;
		snprintf(s->rec_err, sizeof(s->rec_err), "no valid record in the state file");
		return;
	}
	s->rec = (struct ds1307_record){ (uint8_t)flags, last_set, ref_sec, (uint32_t)ref_nsec, off, ppm, unc };
	/* The same checks as for NVRAM: through the codec. */
	if (ds1307_record_encode(&s->rec, buf) < 0) {
		s->rec_rc = -EBADMSG;
		snprintf(s->rec_err, sizeof(s->rec_err), "state file record: a field is out of range");
		return;
	}
	s->rec_rc = ds1307_record_decode(buf, sizeof(buf), &s->rec, s->rec_err, sizeof(s->rec_err));
}

static void push(struct rtc_store *s, struct drift_sample v)
{
	if (s->n_samples == DRIFT_MAX_SAMPLES) {
		memmove(s->samples, s->samples + 1, sizeof(s->samples[0]) * (DRIFT_MAX_SAMPLES - 1));
		s->n_samples--;
	}
	s->samples[s->n_samples++] = v;
}

/* Keeps the newest DRIFT_MAX_SAMPLES valid entries. */
static void load_samples(struct rtc_store *s, json_t *arr)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v) {
		double t, off;
		json_int_t seg;

		if (json_unpack(v, "{s:F, s:F, s:I}", "t", &t, "offset", &off, "segment", &seg) < 0 ||
		    seg < 0 || seg > UINT32_MAX)
			continue;
		push(s, (struct drift_sample){ t, off, (uint32_t)seg });
	}
}

static void load_boot(struct rtc_store *s, json_t *b)
{
	const char *state = NULL, *why = "";
	json_int_t at = 0;

	if (!json_is_object(b) || json_unpack(b, "{s:s, s:I, s?s}", "state", &state, "at", &at,
					      "why", &why) < 0)
		return;
	snprintf(s->boot_state, sizeof(s->boot_state), "%s", state);
	snprintf(s->boot_why, sizeof(s->boot_why), "%s", why);
	s->boot_at = at;
}

static void load_file(struct rtc_store *s, const char *path, bool want_record)
{
	json_error_t jerr;
	json_t *doc = json_load_file(path, 0, &jerr);
	json_int_t seg = 0, version = 0;
	const char *schema = NULL;

	if (!doc) {
		snprintf(s->file_err, sizeof(s->file_err), "%s: %s", path,
			 access(path, F_OK) ? "no state file yet" : jerr.text);
		return;
	}
	if (json_unpack(doc, "{s:s, s:I, s?I}", "schema", &schema, "version", &version,
			"segment", &seg) < 0 || strcmp(schema, RTC_STORE_SCHEMA) ||
	    version != RTC_STORE_VERSION || seg < 0 || seg > UINT32_MAX) {
		snprintf(s->file_err, sizeof(s->file_err), "%s: not a %s version %d document; ignored",
			 path, RTC_STORE_SCHEMA, RTC_STORE_VERSION);
		goto out;
	}
	s->segment = (uint32_t)seg;
	load_boot(s, json_object_get(doc, "boot"));
	if (json_is_array(json_object_get(doc, "samples")))
		load_samples(s, json_object_get(doc, "samples"));
	if (want_record)
		load_record_json(s, json_object_get(doc, "record"));
out:
	json_decref(doc);
}

int rtc_store_load(struct rtc_store *s, struct rtc_dev *d, const char *state_file)
{
	bool nvram = d && rtc_has_nvram(d);

	memset(s, 0, sizeof(*s));
	s->rec_rc = -ENOENT;
	snprintf(s->rec_err, sizeof(s->rec_err), "no record yet (never synchronised)");
	snprintf(s->rec_source, sizeof(s->rec_source), nvram ? "NVRAM" : "state file");
	load_file(s, state_file, !nvram);
	if (nvram)
		return load_nvram(s, d);
	return 0;
}

static json_t *to_json(const struct rtc_store *s, const char *device)
{
	json_t *doc = json_pack("{s:s, s:i, s:s, s:I, s:[]}", "schema", RTC_STORE_SCHEMA, "version",
				RTC_STORE_VERSION, "device", device, "segment", (json_int_t)s->segment,
				"samples");
	json_t *arr = doc ? json_object_get(doc, "samples") : NULL;

	if (!doc)
		return NULL;
	if (s->rec_rc == 0)
		json_object_set_new(doc, "record", json_pack("{s:i, s:I, s:I, s:I, s:f, s:f, s:f}",
			"flags", s->rec.flags, "last_set", (json_int_t)s->rec.last_set,
			"ref_sec", (json_int_t)s->rec.ref_sec, "ref_nsec", (json_int_t)s->rec.ref_nsec,
			"ref_offset", s->rec.ref_offset, "drift_ppm", s->rec.drift_ppm,
			"drift_unc_ppm", s->rec.drift_unc_ppm));
	if (s->boot_state[0])
		json_object_set_new(doc, "boot", json_pack("{s:s, s:I, s:s}", "state", s->boot_state,
							   "at", (json_int_t)s->boot_at, "why", s->boot_why));
	for (size_t i = 0; i < s->n_samples; i++)
		json_array_append_new(arr, json_pack("{s:f, s:f, s:I}", "t", s->samples[i].t, "offset",
						     s->samples[i].offset, "segment",
						     (json_int_t)s->samples[i].segment));
	return doc;
}

static int save_file(const struct rtc_store *s, const char *device, const char *path,
		     char *err, size_t errlen)
{
	char tmp[300];
	json_t *doc = to_json(s, device);
	int rc = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp) || !doc) {
		snprintf(err, errlen, "%s: path too long or out of memory", path);
		rc = -ENOMEM;
		goto out;
	}
	if (json_dump_file(doc, tmp, JSON_INDENT(1) | JSON_REAL_PRECISION(17)) < 0) {
		rc = access(tmp, F_OK) ? -ENOENT : -EIO;
		snprintf(err, errlen, "%s: cannot write the RTC state file (does its directory exist "
			 "and is it writable?)", tmp);
		goto out;
	}
	if (rename(tmp, path) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: rename from %s: %s", path, tmp, strerror(errno));
		unlink(tmp);
	}
out:
	json_decref(doc);
	return rc;
}

int rtc_store_save(const struct rtc_store *s, struct rtc_dev *d, const char *state_file,
		   char *err, size_t errlen)
{
	uint8_t buf[DS1307_RECORD_SIZE];
	int rc;

	if (d && rtc_has_nvram(d) && s->rec_rc == 0) {
		rc = ds1307_record_encode(&s->rec, buf);
		if (rc < 0) {
			snprintf(err, errlen, "%s: record does not fit (offset or drift out of range)",
				 rtc_describe(d));
			return rc;
		}
		rc = rtc_nvram_write(d, 0, buf, sizeof(buf));
		if (rc < 0) {
			snprintf(err, errlen, "%s", rtc_error(d));
			return rc;
		}
	}
	return save_file(s, d ? d->path : "", state_file, err, errlen);
}

void rtc_store_add_sample(struct rtc_store *s, double t, double offset)
{
	push(s, (struct drift_sample){ t, offset, s->segment });
}
