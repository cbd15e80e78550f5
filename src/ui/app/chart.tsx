import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface ChartSeries {
  label: string;
  /** CSS colour of the line or points. */
  stroke: string;
  /** Points only (a scatter), no line. */
  points?: boolean;
}

export interface ChartProps {
  /** Accessible name of the chart (a figure's label): what it shows. */
  label: string;
  /** [x values, ...one y array per series]; x ascending; null is a gap. */
  data: uPlot.AlignedData;
  series: ChartSeries[];
  xLabel: string;
  yLabel?: string;
  /** x values are epoch seconds: the axis shows dates and times. */
  xTime?: boolean;
  yLog?: boolean;
  height?: number;
  /** uPlot plugins (hooks drawn on top of the chart, e.g. labels next to a scatter's points). */
  plugins?: uPlot.Plugin[];
}

/** Room for the widest y tick label (about 7 px a character) and the axis title. */
function yAxisSize(values: readonly string[] | null): number {
  const widest = Math.max(0, ...(values ?? []).map((value) => value.length));
  return Math.max(50, 18 + 7 * widest);
}

/**
 * A uPlot chart (made for long time series: 100 000 points draw in milliseconds) that fills
 * its container's width and follows it when the window is resized. uPlot draws on a canvas: the
 * figure carries the label, and the series count and point count are in data attributes for
 * tests and scripts (data-points at once, data-drawn once the canvas is drawn).
 */
export function Chart(props: ChartProps) {
  const holder = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = holder.current;
    if (element === null) return;
    const figure = element.parentElement;
    const options: uPlot.Options = {
      // Once uPlot has drawn, the figure says how many points it drew (data-drawn): benchmarks
      // and tests wait for it rather than for the figure, which exists before the canvas is drawn.
      hooks: {
        draw: [(plot) => figure?.setAttribute("data-drawn", String(plot.data[0].length))],
      },
      width: Math.max(element.clientWidth, 200),
      height: props.height ?? 260,
      scales: {
        x: { time: props.xTime === true },
        y: props.yLog === true ? { distr: 3 } : {},
      },
      axes: [
        { label: props.xLabel },
        // uPlot's fixed 50 px would run long tick labels ("20,000") into the axis title.
        { label: props.yLabel, size: (_, values) => yAxisSize(values) },
      ],
      series: [
        { label: props.xLabel },
        ...props.series.map((series) => ({
          label: series.label,
          stroke: series.stroke,
          width: series.points === true ? 0 : 1.5,
          points: series.points === true ? { show: true, size: 6, fill: series.stroke } : {},
          spanGaps: true,
        })),
      ],
      plugins: props.plugins,
    };
    const plot = new uPlot(options, props.data, element);
    const resize = new ResizeObserver(() => {
      plot.setSize({ width: Math.max(element.clientWidth, 200), height: options.height });
    });
    resize.observe(element);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [
    props.data,
    props.series,
    props.xLabel,
    props.yLabel,
    props.xTime,
    props.yLog,
    props.height,
    props.plugins,
  ]);
  return (
    <figure
      class="chart"
      aria-label={props.label}
      data-points={props.data[0].length}
      data-series={props.series.length}
    >
      <div ref={holder} />
    </figure>
  );
}
