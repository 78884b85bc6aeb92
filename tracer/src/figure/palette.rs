//! One colour per platform (or run) across every figure of a study, from the Okabe-Ito
//! palette, which readers with any common colour-vision deficiency can tell apart.
//!
//! Well-known platform names keep the same colour everywhere, so `runsc` is green in this
//! study, in the next one and in a `ktrace compare` of two study records (`runsc-cpu.json`
//! matches too: a name matches when any of its words does). Other names take the first colour
//! no name of the same palette has, in the order they were given.

/// An sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Colour(pub u8, pub u8, pub u8);

impl Colour {
    pub const WHITE: Self = Self(0xff, 0xff, 0xff);
    /// Text, the axis line.
    pub const INK: Self = Self(0x22, 0x22, 0x22);
    /// Tick labels, notes.
    pub const MUTED: Self = Self(0x55, 0x55, 0x55);
    /// Gridlines.
    pub const GRID: Self = Self(0xd0, 0xd0, 0xd0);
    /// The band behind every other group.
    pub const BAND: Self = Self(0xf3, 0xf3, 0xf3);
    /// A name the palette was not given.
    pub const UNKNOWN: Self = Self(0x99, 0x99, 0x99);

    /// `#rrggbb`, as SVG writes it.
    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }

    /// Whether text on this colour reads better in black than in white (WCAG relative
    /// luminance against the contrast midpoint).
    pub fn is_light(self) -> bool {
        let linear = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
        };
        let luminance = 0.2126 * linear(self.0) + 0.7152 * linear(self.1) + 0.0722 * linear(self.2);
        luminance > 0.179
    }
}

const BLUE: Colour = Colour(0x00, 0x72, 0xb2);
const ORANGE: Colour = Colour(0xe6, 0x9f, 0x00);
const GREEN: Colour = Colour(0x00, 0x9e, 0x73);
const VERMILLION: Colour = Colour(0xd5, 0x5e, 0x00);
const PURPLE: Colour = Colour(0xcc, 0x79, 0xa7);
const SKY: Colour = Colour(0x56, 0xb4, 0xe9);
const BLACK: Colour = Colour(0x00, 0x00, 0x00);
const YELLOW: Colour = Colour(0xf0, 0xe4, 0x42);

/// Okabe-Ito, darkest and most distinct first; yellow last, as it is faint on white.
const ORDER: [Colour; 8] = [BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY, BLACK, YELLOW];

/// The fixed colour of a well-known platform name.
fn known(word: &str) -> Option<Colour> {
    Some(match word {
        "bare" => BLUE,
        "runc" => ORANGE,
        "runsc" | "gvisor" => GREEN,
        "qemu" | "vm" => VERMILLION,
        "firecracker" => PURPLE,
        "lxc" => SKY,
        _ => return None,
    })
}

/// The fixed colour of the first well-known word in `name` (words split at anything but
/// letters and digits, case ignored).
fn known_in(name: &str) -> Option<Colour> {
    name.split(|c: char| !c.is_ascii_alphanumeric()).find_map(|w| known(&w.to_ascii_lowercase()))
}

/// The colours of one study's (or one comparison's) platforms.
#[derive(Debug, Clone, PartialEq)]
pub struct Palette {
    colours: Vec<(String, Colour)>,
}

impl Palette {
    /// Gives each name its colour: well-known ones their fixed colour, the others the free
    /// colours in order (they repeat after eight).
    pub fn new<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> Self {
        let names: Vec<String> = names.into_iter().map(|n| n.as_ref().to_owned()).collect();
        let taken: Vec<Colour> = names.iter().filter_map(|n| known_in(n)).collect();
        let mut free = ORDER.iter().filter(|c| !taken.contains(c)).chain(ORDER.iter()).cycle();
        let colours = names
            .into_iter()
            .map(|name| {
                let colour = known_in(&name)
                    .unwrap_or_else(|| *free.next().expect("an endless cycle of colours"));
                (name, colour)
            })
            .collect();
        Self { colours }
    }

    /// The colour of `name`: grey for a name the palette was not given.
    pub fn colour(&self, name: &str) -> Colour {
        self.colours.iter().find(|(n, _)| n == name).map_or(Colour::UNKNOWN, |&(_, c)| c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_keep_their_colour_in_any_palette() {
        let study = Palette::new(["bare", "runc", "runsc", "qemu"]);
        let other = Palette::new(["qemu", "runsc"]);
        for name in ["qemu", "runsc"] {
            assert_eq!(study.colour(name), other.colour(name), "{name}");
        }
        assert_eq!(study.colour("runsc"), GREEN);
        // Record stems of a study and gVisor's other name match too.
        let records = Palette::new(["runsc-network", "study:gVisor", "my-vm"]);
        assert_eq!(records.colour("runsc-network"), GREEN);
        assert_eq!(records.colour("study:gVisor"), GREEN);
        assert_eq!(records.colour("my-vm"), VERMILLION);
    }

    #[test]
    fn other_names_take_free_colours_in_order() {
        // bare takes blue, so the first other name gets orange, the next green.
        let p = Palette::new(["net", "bare", "file"]);
        assert_eq!([p.colour("net"), p.colour("bare"), p.colour("file")], [ORANGE, BLUE, GREEN]);
        assert_eq!(p.colour("not given"), Colour::UNKNOWN);
        let many = Palette::new((0..10).map(|i| format!("run{i}")));
        assert_eq!(many.colour("run0"), BLUE);
        assert_eq!(many.colour("run8"), BLUE);
    }

    #[test]
    fn text_colour_follows_the_bar() {
        // Black text on orange, vermillion and the rest: more contrast than white there.
        assert!([YELLOW, ORANGE, SKY, GREEN, VERMILLION, PURPLE].iter().all(|c| c.is_light()));
        assert!(!BLUE.is_light() && !BLACK.is_light());
    }
}
