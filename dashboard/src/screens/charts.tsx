import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import '../charts.css';
import { DataTable } from '../common.js';
import { type MessageKey, useI18n } from '../i18n/index.js';
import type { Activity, ActivityFigures } from '../types.js';

/**
 * The overview's charts of `GET /api/stats/activity`, drawn by uPlot on a canvas that follows
 * its container's width. uPlot styles its elements through the CSSOM (never inline `<style>` or
 * eval), so it runs under the dashboard's strict CSP. Each chart has its text alternative: a
 * summary line (totals, worst p95) and a `<details>` table of the buckets with activity.
 */

/** One line of a chart: its label, its colour (a CSS custom property of charts.css) and its values. */
interface Line {
  label: MessageKey;
  color: string;
  value: (f: ActivityFigures) => number | null;
}

const THROUGHPUT: Line[] = [
  { label: 'overview.series.sent', color: '--chart-sent', value: (f) => f.mail.sent },
  { label: 'overview.series.failed', color: '--chart-failed', value: (f) => f.mail.failed },
  { label: 'overview.series.webhooksOk', color: '--chart-webhooks', value: (f) => f.webhooks.succeeded },
  {
    label: 'overview.series.webhooksFailed',
    color: '--chart-webhooks-failed',
    value: (f) => f.webhooks.failed,
  },
  { label: 'overview.series.inbound', color: '--chart-inbound', value: (f) => f.inbound.received },
];

const LATENCY: Line[] = [
  { label: 'overview.series.mailP50', color: '--chart-sent', value: (f) => f.mail.p50Ms },
  { label: 'overview.series.mailP95', color: '--chart-failed', value: (f) => f.mail.p95Ms },
  { label: 'overview.series.webhooksP50', color: '--chart-webhooks', value: (f) => f.webhooks.p50Ms },
  {
    label: 'overview.series.webhooksP95',
    color: '--chart-webhooks-failed',
    value: (f) => f.webhooks.p95Ms,
  },
];

const HEIGHT = 220;
/** The y axis steps of a count chart: whole numbers only. */
const COUNT_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000];

/** A latency as the API gives it (the upper bound of its class): `≤ 50 ms`, `≤ 2.5 s`, `≤ 5 min`. */
export function formatLatency(ms: number | null): string {
  if (ms === null) return '–';
  if (ms < 1000) return `≤ ${ms} ms`;
  if (ms < 60_000) return `≤ ${ms / 1000} s`;
  return `≤ ${ms / 60_000} min`;
}

/** The largest p95 of the window's buckets, or null. */
function worst(activity: Activity, p95: (f: ActivityFigures) => number | null): number | null {
  return activity.buckets.reduce<number | null>((max, b) => {
    const v = p95(b);
    return v !== null && (max === null || v > max) ? v : max;
  }, null);
}

/** Throughput and latency charts of one window, each with its summary and table. */
export function ActivityCharts({ activity }: { activity: Activity }) {
  const { t } = useI18n();
  const windowLabel = t(activity.window === '1h' ? 'overview.window.1h' : 'overview.window.24h');
  const totals = activity.totals;
  const throughput = t('overview.throughputSummary', {
    window: windowLabel,
    sent: totals.mail.sent,
    failed: totals.mail.failed,
    succeeded: totals.webhooks.succeeded,
    webhooksFailed: totals.webhooks.failed,
    received: totals.inbound.received,
  });
  const latency = t('overview.latencySummary', {
    window: windowLabel,
    mail: formatLatency(worst(activity, (f) => f.mail.p95Ms)),
    webhooks: formatLatency(worst(activity, (f) => f.webhooks.p95Ms)),
  });
  return (
    <div class="charts">
      <Chart
        id="throughput"
        title={t('overview.throughput')}
        summary={throughput}
        activity={activity}
        lines={THROUGHPUT}
        format={String}
        yValue={String}
        counts
      />
      <Chart
        id="latency"
        title={t('overview.latency')}
        summary={latency}
        note={t('overview.latencyNote')}
        activity={activity}
        lines={LATENCY}
        format={formatLatency}
        yValue={(ms) => formatLatency(ms).replace('≤ ', '')}
      />
    </div>
  );
}

function Chart({
  id,
  title,
  summary,
  note,
  activity,
  lines,
  format,
  yValue,
  counts = false,
}: {
  id: string;
  title: string;
  summary: string;
  note?: string;
  activity: Activity;
  lines: Line[];
  format: (value: number | null) => string;
  /** How the y axis writes a value. */
  yValue: (value: number) => string;
  /** Whole numbers only on the y axis. */
  counts?: boolean;
}) {
  const { t, formatTime } = useI18n();
  const busy = activity.buckets.filter((b) => lines.some((line) => (line.value(b) ?? 0) > 0));
  return (
    <figure class="chart" data-testid={`chart-${id}`} aria-labelledby={`chart-${id}-title`}>
      <h3 id={`chart-${id}-title`}>{title}</h3>
      <p class="chart-summary" data-testid={`${id}-summary`}>
        {summary}
      </p>
      <Plot activity={activity} lines={lines} yValue={yValue} counts={counts} />
      {note ? <p class="muted chart-note">{note}</p> : null}
      <details>
        <summary>{t('overview.bucketTable')}</summary>
        {busy.length === 0 ? (
          <p class="muted">{t('overview.noActivity')}</p>
        ) : (
          <DataTable
            testid={`${id}-table`}
            columns={[t('overview.bucketAt'), ...lines.map((line) => t(line.label))]}
            rows={busy}
            row={(b) => (
              <tr key={b.at}>
                <th scope="row">{formatTime(b.at)}</th>
                {lines.map((line) => (
                  <td key={line.label}>{format(line.value(b))}</td>
                ))}
              </tr>
            )}
          />
        )}
      </details>
    </figure>
  );
}

/** The uPlot canvas (hidden from screen readers: the summary and the table say the same). */
function Plot({
  activity,
  lines,
  yValue,
  counts,
}: {
  activity: Activity;
  lines: Line[];
  yValue: (value: number) => string;
  counts: boolean;
}) {
  const { t, lang } = useI18n();
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const data: uPlot.AlignedData = [
    activity.buckets.map((b) => Date.parse(b.at) / 1000),
    ...lines.map((line) => activity.buckets.map((b) => line.value(b))),
  ];
  const labels = `${lang}|${lines.map((line) => t(line.label)).join('|')}`;

  // Created once per set of labels (a language switch draws it again); the data is set below.
  useEffect(() => {
    const element = box.current;
    if (!element) return;
    const style = getComputedStyle(element);
    const clock = new Intl.DateTimeFormat(lang === 'fr' ? 'fr-FR' : 'en-GB', {
      hour: '2-digit',
      minute: '2-digit',
    });
    const color = (name: string) => style.getPropertyValue(name).trim() || '#475569';
    const options: uPlot.Options = {
      width: Math.max(element.clientWidth, 200),
      height: HEIGHT,
      legend: { live: false },
      cursor: { drag: { x: false, y: false } },
      scales: { y: { range: (_u, _min, max) => [0, Math.max(max ?? 0, 1)] } },
      axes: [
        {
          stroke: color('--chart-axis'),
          values: (_u, splits) => splits.map((s) => clock.format(new Date(s * 1000))),
        },
        {
          stroke: color('--chart-axis'),
          size: 60,
          ...(counts ? { incrs: COUNT_STEPS } : {}),
          values: (_u, splits) => splits.map((v) => yValue(v)),
        },
      ],
      series: [
        {},
        ...lines.map((line) => ({
          label: t(line.label),
          stroke: color(line.color),
          width: 2,
          points: { show: true, size: 4 },
        })),
      ],
    };
    const chart = new uPlot(options, data, element);
    plot.current = chart;
    const resize = new ResizeObserver(() => {
      const width = Math.max(element.clientWidth, 200);
      if (width !== chart.width) chart.setSize({ width, height: HEIGHT });
    });
    resize.observe(element);
    return () => {
      resize.disconnect();
      chart.destroy();
      plot.current = null;
    };
  }, [labels]);

  useEffect(() => {
    plot.current?.setData(data);
  }, [activity]);

  return <div class="plot" ref={box} aria-hidden="true" />;
}
