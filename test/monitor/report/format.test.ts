import { describe, expect, it } from "vitest";
import {
  driftRule,
  formatCount,
  formatDistance,
  formatNumber,
  formatPValue,
  formatShare,
  formatSigned,
  formatSpan,
  formatTime,
  formatWindow,
  plural,
} from "../../../src/monitor/report/format.js";
import { escapeHtml, markup, raw } from "../../../src/monitor/report/html.js";

describe("report number formats", () => {
  it("writes counts with thousands separators", () => {
    expect(formatCount(0)).toBe("0");
    expect(formatCount(999)).toBe("999");
    expect(formatCount(1000)).toBe("1,000");
    expect(formatCount(12345678)).toBe("12,345,678");
    expect(formatCount(-4321)).toBe("-4,321");
    expect(formatCount(null)).toBe("no data");
  });

  it("writes tiny p-values in scientific notation and others with 3 digits", () => {
    expect(formatPValue(0.5)).toBe("0.5");
    expect(formatPValue(0.04567)).toBe("0.0457");
    expect(formatPValue(0.001)).toBe("0.001");
    expect(formatPValue(0.000999)).toBe("1e-3");
    expect(formatPValue(3.2104e-12)).toBe("3.2e-12");
    expect(formatPValue(5e-324)).toBe("4.9e-324");
    expect(formatPValue(0)).toBe("0");
    expect(formatPValue(1)).toBe("1");
    expect(formatPValue(null)).toBe("no data");
  });

  it("writes distances with 3 significant digits", () => {
    expect(formatDistance(0.123456)).toBe("0.123");
    expect(formatDistance(0.0192345)).toBe("0.0192");
    expect(formatDistance(1.23456)).toBe("1.23");
    expect(formatDistance(0.1)).toBe("0.1");
    expect(formatDistance(0.0000123)).toBe("1.23e-5");
    expect(formatDistance(undefined)).toBe("no data");
  });

  it("writes measurements with 4 significant digits and separators", () => {
    expect(formatNumber(7.912345)).toBe("7.912");
    expect(formatNumber(-0.21)).toBe("-0.21");
    expect(formatNumber(1234.56)).toBe("1,235");
    expect(formatNumber(98765.4)).toBe("98,765");
    expect(formatNumber(2e20)).toBe("2e20");
    expect(formatNumber(NaN)).toBe("n/a");
    expect(formatNumber(Infinity)).toBe("∞");
    expect(formatSigned(1.3456)).toBe("+1.346");
    expect(formatSigned(-0.5)).toBe("-0.5");
    expect(formatSigned(null)).toBe("no data");
  });

  it("writes shares as percentages, null as no data", () => {
    expect(formatShare(0.6)).toBe("60%");
    expect(formatShare(0.012345)).toBe("1.23%");
    expect(formatShare(0)).toBe("0%");
    expect(formatShare(1)).toBe("100%");
    expect(formatShare(1e-7)).toBe("<0.01%");
    expect(formatShare(null)).toBe("no data");
  });

  it("writes UTC times, windows and spans", () => {
    expect(formatTime("2026-12-07T09:00:00.000Z")).toBe("2026-12-07 09:00 UTC");
    expect(formatTime("2026-12-07T09:00:12.345Z")).toBe("2026-12-07 09:00:12 UTC");
    expect(formatTime("not a time")).toBe("not a time");
    expect(formatWindow("2026-12-06T09:00:00Z", "2026-12-07T09:00:00Z")).toEqual({
      range: "2026-12-06 09:00 → 2026-12-07 09:00 UTC",
      span: "24 h",
    });
    expect(formatSpan(3_600_000)).toBe("1 h");
    expect(formatSpan(90 * 60_000)).toBe("90 min");
    expect(formatSpan(7 * 86_400_000)).toBe("7 d");
    expect(formatSpan(30 * 3_600_000)).toBe("30 h");
    expect(formatSpan(54 * 3_600_000)).toBe("2 d 6 h");
  });

  it("states each test's drift rule with its comparison", () => {
    expect(driftRule("ks", 0.05)).toBe("p ≤ 0.05");
    expect(driftRule("chisquare", 0.05)).toBe("p < 0.05");
    expect(driftRule("wasserstein", 0.1)).toBe("≥ 0.1");
    expect(plural(1, "row")).toBe("1 row");
    expect(plural(1200, "row")).toBe("1,200 rows");
  });
});

describe("report HTML building", () => {
  it("escapes every interpolated value and keeps safe markup", () => {
    const attack = `<script>alert("x")</script>&'`;
    expect(markup`<td title="${attack}">${attack}</td>`.value).toBe(
      '<td title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;</td>',
    );
    expect(markup`<p>${markup`<b>${"<i>"}</b>`}${[1, "<", null, false, undefined]}</p>`.value).toBe(
      "<p><b>&lt;i&gt;</b>1&lt;</p>",
    );
    expect(markup`${raw("<br>")}`.value).toBe("<br>");
    // Line breaks laid out in the template fold to a space; those inside values stay.
    expect(
      markup`<p>
        ${"a\n  b"}
      </p>`.value,
    ).toBe("<p> a\n  b </p>");
    expect(escapeHtml("a\u0000b\u001fc\td")).toBe("a\ufffdb\ufffdc\td");
  });
});
