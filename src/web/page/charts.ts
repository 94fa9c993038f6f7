/**
 * The timeline's charts, drawn by uPlot. uPlot sets sizes and positions through element.style (CSSOM), which a
 * `style-src 'self'` policy allows; it writes no style attributes or <style> elements (checked in the
 * browser test, which fails on any CSP violation).
 */
import uPlot from 'uplot'
import type { CycleEntry } from './api.js'
import { el } from './dom.js'

export interface SeriesSpec {
  readonly label: string
  readonly colour: string
  readonly value: (cycle: CycleEntry) => number | null
}

export interface ChartSpec {
  readonly title: string
  readonly series: readonly SeriesSpec[]
}

const CHART_HEIGHT_PX = 170

export class TimelineChart {
  readonly element: HTMLElement
  readonly #plot: uPlot
  readonly #spec: ChartSpec
  readonly #resize: ResizeObserver

  constructor(spec: ChartSpec, cycles: readonly CycleEntry[]) {
    this.#spec = spec
    const canvasHolder = el('div', { class: 'chart-canvas' })
    this.element = el('figure', { class: 'chart' }, el('figcaption', null, spec.title), canvasHolder)
    this.#plot = new uPlot({
      width: 400,
      height: CHART_HEIGHT_PX,
      scales: { x: { time: false } },
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
      axes: [
        { stroke: '#666', grid: { stroke: '#eee' }, ticks: { stroke: '#ddd' } },
        { stroke: '#666', grid: { stroke: '#eee' }, ticks: { stroke: '#ddd' }, size: 60, values: (_u, values) => values.map(compact) },
      ],
      series: [
        { label: 'cycle', value: (_u, v) => (v === null ? '—' : String(v)) },
        ...spec.series.map((s) => ({
          label: s.label, stroke: s.colour, width: 1.5, fill: s.colour + '22', points: { show: false },
          value: (_u: uPlot, v: number | null) => (v === null ? '—' : v.toLocaleString('en-US')),
        })),
      ],
    }, this.#data(cycles), canvasHolder)
    // uPlot draws at a fixed size; follow the figure's width.
    this.#resize = new ResizeObserver(() => {
      const width = Math.floor(canvasHolder.clientWidth)
      if (width > 0 && width !== this.#plot.width) this.#plot.setSize({ width, height: CHART_HEIGHT_PX })
    })
    this.#resize.observe(canvasHolder)
  }

  update(cycles: readonly CycleEntry[]): void {
    this.#plot.setData(this.#data(cycles))
  }

  destroy(): void {
    this.#resize.disconnect()
    this.#plot.destroy()
  }

  #data(cycles: readonly CycleEntry[]): uPlot.AlignedData {
    return [cycles.map((c) => c.cycle), ...this.#spec.series.map((s) => cycles.map((c) => s.value(c)))]
  }
}

function compact(value: number): string {
  const size = Math.abs(value)
  if (size >= 1e9) return `${+(value / 1e9).toFixed(1)}G`
  if (size >= 1e6) return `${+(value / 1e6).toFixed(1)}M`
  if (size >= 1e3) return `${+(value / 1e3).toFixed(1)}k`
  return String(+value.toFixed(2))
}
