fn main() {
    println!("notion-mirror: under construction");
}
